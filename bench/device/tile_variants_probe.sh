#!/usr/bin/env bash
# One device call: register-tile variants in isolation (.devbench/tiles/TileBench.class from
# bench/device/gen_tile_bench.py, each in its own
# JVM), the per-core expert GEMM of the old and new jar, and RuntimeBench old vs new (with the new jar's phase
# times) on the 1.9 B random Qwen3-MoE at 16 and 2 threads. Carry .devbench.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC"
nproc; lscpu | grep -E 'Model name'; date -u
for v in ${TILES:-4x2 8x1 4x3 6x2 3x4 2x4 8x2 5x3 4x4 6x3}; do $JAVA -cp .devbench/tiles TileBench $v 2>&1 | grep '^tile'; done
big=/tmp/qwen3moe-1.9b
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING &
gen=$!
for j in old slim; do
  echo "== expertGemm $j"
  $JAVA -cp .devbench/moeprune-$j.jar io.moeprune.bench.ExpertGemmBench 2>&1 | grep -E '^(kernels|matMul)'
done
wait $gen
for t in ${THREADS:-16 2}; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  for j in old slim; do
    echo "== runtime $j threads $t"
    $JAVA -Dmoeprune.phases=true -cp .devbench/moeprune-$j.jar io.moeprune.bench.RuntimeBench $big --threads $t \
      --prompt $p --decode $d --runs $r 2>&1 | grep -vE 'WARNING|^$'
  done
done
