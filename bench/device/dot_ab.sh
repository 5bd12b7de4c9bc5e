#!/usr/bin/env bash
# Same-call A/B of matMulT's per-input dot path for small batches (-Dmoeprune.dotMaxInputs=0 turns it off). Carry .devbench.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
big=/tmp/qwen3moe-1.9b
for o in "-Dmoeprune.dotMaxInputs=0" ""; do
  echo "== expertGemm $o"; $JAVA $o io.moeprune.bench.ExpertGemmBench 2>&1 | grep -E 'BF16 \[.*\] +(1|4|8|16) '
done
$JAVA io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for t in 2 16; do
  p=64; [ "$t" = 16 ] && p=256
  for o in "-Dmoeprune.dotMaxInputs=0" "" "-Dmoeprune.dotMaxInputs=0" ""; do
    echo "== threads $t prompt $p $o"
    $JAVA $o io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p --decode 4 --runs 3 2>&1 | grep -E '^prefill'
  done
done
