#!/usr/bin/env bash
# Session 6: does a decode step slow down with its context, or after a prefill? Decode of the 1.9 B model after an
# 8-token and a 256-token prompt (PROMPTS), alternated over ROUNDS rounds, each with its decode phase table.
# CONFIGS: ";"-separated "JAR THREADS [JVM flags]" (JAR under .devbench). Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
IFS=';' read -ra configs <<< "${CONFIGS:-moeprune-slim.jar 16}"
for round in $(seq ${ROUNDS:-2}); do
  for p in ${PROMPTS:-8 256}; do
    for c in "${configs[@]}"; do
      set -- $c; jar=$1; t=$2; shift 2
      echo "== round $round prompt $p $jar threads $t $*"
      $J -Dmoeprune.phases=true "$@" -cp .devbench/$jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p \
        --decode ${DECODE:-64} --runs 2 2>&1 | grep -v WARNING | sed -n '/^measured/,$p' | sed '/^phases of the 2 prefills/,/^$/d'
    done
  done
done
date -u
