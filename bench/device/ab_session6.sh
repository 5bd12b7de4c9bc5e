#!/usr/bin/env bash
# Session 6: A/B of two jars (JARS, under .devbench; a jar may carry JVM flags as JAR,FLAG,FLAG...) at THREADS,
# alternated over ROUNDS rounds, each run with its decode phase table (prompt PROMPT, DECODE steps). Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for round in $(seq ${ROUNDS:-3}); do
  for config in ${JARS:-base.jar moeprune-slim.jar}; do
    jar=${config%%,*}; flags=""; [ "$jar" != "$config" ] && flags=$(tr ',' ' ' <<< "${config#*,}")
    for t in ${THREADS:-16}; do
      echo "== round $round $jar $flags threads $t"
      $J -Dmoeprune.phases=true $flags -cp .devbench/$jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt ${PROMPT:-256} \
        --decode ${DECODE:-64} --runs 2 2>&1 | sed -n '/^phases of the 2 × /,$p;/^decode\|^measured: CPU\|^prefill/p' \
        | grep -E '^(decode|measured: CPU|prefill|qkv|attend|o_proj|router|expert_gate_up|expert_down|lm_head|total) '
    done
  done
done
date -u
