#!/usr/bin/env bash
# where a prefill's time goes on the GPU machine (AMX tiles): phases and a JFR profile of RuntimeBench at
# 2 threads (128-token prompt) and 8 threads (256), prefill only. Carry .devbench; the .jfr files come back in $OUT.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for c in ${CONFIGS:-2:128 8:256}; do
  IFS=: read -r t p <<< "$c"
  echo "== threads $t prompt $p"
  $J -Dmoeprune.phases=true -XX:StartFlightRecording=filename=${OUT:-/tmp}/prefill$t.jfr,settings=profile \
    -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p --decode 0 \
    --runs ${RUNS:-4} 2>&1 | grep -v -E 'WARNING|jfr|Started'
done
date -u
