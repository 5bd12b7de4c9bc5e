#!/usr/bin/env bash
# Session 6: decode after an 8- and a 256-token prompt (16 threads), with JVM heap settings (HEAPS: ";"-separated flag
# sets, "-" for none), to see whether the slower decode after a long prefill is the heap growing. Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
IFS=';' read -ra heaps <<< "${HEAPS:--}"
for round in $(seq ${ROUNDS:-1}); do
  for h in "${heaps[@]}"; do
    [ "$h" = "-" ] && h=""
    for p in ${PROMPTS:-8 256}; do
      echo "== round $round prompt $p $h"
      $J $h -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads 16 --prompt $p --decode 64 \
        --runs 2 2>&1 | grep -E '^(decode|measured: CPU|garbage)'
    done
  done
done
