#!/usr/bin/env bash
# Per-core kernel efficiency (ExpertGemmBench, 1 thread) and JFR profiles of RuntimeBench on the 1.9 B random
# Qwen3-MoE at 16 and 2 threads, on the GPU machine's CPU. Carry .devbench (with jdk.jfr in the jlinked JDK).
# The .jfr files come back under $OUT; read them with `jfr print --events jdk.ExecutionSample`.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
nproc; lscpu | grep -E 'Model name|Flags' | cut -c1-80; date -u
big=/tmp/qwen3moe-1.9b
$JAVA io.moeprune.bench.ExpertGemmBench 2>&1 | grep -v WARNING
$JAVA io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for t in 16 2; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  echo "== threads $t"
  $JAVA -XX:StartFlightRecording=filename=${OUT:-/tmp}/rt$t.jfr,settings=profile ${JOPTS:-} io.moeprune.bench.RuntimeBench $big \
    --threads $t --prompt $p --decode $d --runs $r 2>&1 | grep -E '^(prefill|decode|measured)'
done
