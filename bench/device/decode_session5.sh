#!/usr/bin/env bash
# Session 5: where a decode step loses against the bandwidth roofline, and A/B runs of the fixes. Decode-heavy runs
# (8-token prompt, 128 steps) of the 1.9 B model, configurations alternated over ROUNDS rounds, then phase tables.
# CONFIGS: ";"-separated "JAR THREADS [JVM flags]", JAR a file name under .devbench (moeprune-slim.jar = this build,
# old.jar = the build compared against). Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
IFS=';' read -ra configs <<< "${CONFIGS:-old.jar 16;moeprune-slim.jar 16}"
for round in $(seq ${ROUNDS:-2}); do
  for c in "${configs[@]}"; do
    set -- $c; jar=$1; t=$2; shift 2
    echo "== round $round $jar threads $t $*"
    $J "$@" -cp .devbench/$jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt ${PROMPT:-8} --decode ${DECODE:-128} --runs 2 2>&1 | grep -E '^(prefill|decode|measured)'
  done
done
for t in ${PHASE_THREADS:-16}; do
  echo "== phases threads $t"
  $J -Dmoeprune.phases=true -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt ${PROMPT:-8} --decode ${DECODE:-128} --runs 2 2>&1 | grep -v WARNING | sed -n '/^measured/,$p' | grep -v "^phases of the 2 prefills" 
done
