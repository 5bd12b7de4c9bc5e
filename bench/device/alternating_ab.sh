#!/usr/bin/env bash
# One device call: RuntimeBench of the old jar (.devbench/moeprune-old.jar) and the new one
# (.devbench/moeprune-slim.jar) on the 1.9 B random Qwen3-MoE, alternating old/new twice per thread count, since
# identical runs on the GPU machine swing by up to 2x. THREADS (default "16 2"). Carry .devbench.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for t in ${THREADS:-16 2}; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  for round in 1 2; do
    for j in old slim; do
      printf '%s threads %s round %s: ' $j $t $round
      $JAVA -cp .devbench/moeprune-$j.jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p --decode $d \
        --runs $r 2>&1 | grep -E '^(prefill|decode)' | awk '{printf "%s %s  ", $1, $4}'
      echo
    done
  done
done
