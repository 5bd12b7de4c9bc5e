#!/usr/bin/env bash
# (Historical: the dot tiles and their switch were dropped after this measurement; BENCHMARKS.md, "Session 3".)
# One device call: matMulT's dot tiles (experts with at most one vector of tokens, long rows) on and off
# (-Dmoeprune.dotTiles=false): the one-thread expert GEMM, then RuntimeBench on the 1.9 B random Qwen3-MoE
# alternating on/off twice, at 2 threads (128-token prompt: 16 tokens per expert on average) and 16 threads.
# Carry .devbench.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
date -u
big=/tmp/qwen3moe-1.9b
$JAVA io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING &
gen=$!
for opt in true false; do
  echo "== expertGemm dotTiles=$opt"
  $JAVA -Dmoeprune.dotTiles=$opt io.moeprune.bench.ExpertGemmBench 2>&1 | grep -E '^(kernels|matMulT BF16)' | grep -E 'kernels| (4|8|16|24) '
done
wait $gen
for t in 2 16; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  for round in 1 2; do
    for opt in true false; do
      printf 'dotTiles=%s threads %s round %s: ' $opt $t $round
      $JAVA -Dmoeprune.dotTiles=$opt io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p --decode $d \
        --runs $r 2>&1 | grep -E '^(prefill|decode)' | awk '{printf "%s %s  ", $1, $4}'
      echo
    done
  done
done
