#!/usr/bin/env bash
# Decode on the 1.9 B random Qwen3-MoE at several thread counts and parallel chunkings, with the bandwidth of
# plain memory and of the mapped checkpoint measured in the same runs. Carry .devbench.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector"
big=/tmp/qwen3moe-1.9b
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for cfg in "16|" "16|-Dmoeprune.chunksPerThread=8" "16|-Dmoeprune.chunksPerThread=2" "12|" "8|"; do
  t=${cfg%%|*}; o=${cfg#*|}
  echo "== threads $t $o"
  $JAVA $o -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt 8 --decode 128 --runs 2 \
    2>&1 | grep -E '^(decode|measured)'
done
