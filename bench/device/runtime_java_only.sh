#!/usr/bin/env bash
# The Java half of runtime_vs_transformers.sh (same models, threads and sizes). Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
big=/tmp/qwen3moe-1.9b; tiny=/tmp/tiny7d-shape
$J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
$J io.moeprune.bench.RuntimeBench --generate $tiny --shape 256,8,4,2,64,32,4,128,8192 2>&1 | grep -v WARNING
for m in $big $tiny; do
  for t in 16 2; do
    p=256; d=32; r=3
    if [ "$t" -le 4 ] && [ "$m" = "$big" ]; then p=128; d=16; r=2; fi
    echo "== $(basename $m) threads $t"
    $J io.moeprune.bench.RuntimeBench $m --threads $t --prompt $p --decode $d --runs $r 2>&1 | grep -v WARNING
  done
done
