#!/usr/bin/env bash
# Session 6: decode-step streaming (bench/run decodeStreams) per kernel variant, then decode after short and long
# prompts (context_session6.sh's runs plus a pause after the prefill and a throwaway prefill before a short prompt).
# STREAMS: ";"-separated "THREADS [JVM flags]". Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
IFS=';' read -ra streams <<< "${STREAMS:-16}"
for c in "${streams[@]}"; do
  set -- $c; t=$1; shift
  echo "== streams threads $t $*"
  $J "$@" -cp .devbench/moeprune-slim.jar io.moeprune.bench.DecodeStreamsBench --threads $t 2>&1 | grep -v WARNING | sed -n '/^what/,$p'
done
[ -n "${NO_RUNTIME:-}" ] && exit 0
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
IFS=';' read -ra runs <<< "${RUNS:-8;256;256 --pause-ms 300;8 --prefill-first 256}"
for round in $(seq ${ROUNDS:-2}); do
  for c in "${runs[@]}"; do
    set -- $c; p=$1; shift
    echo "== round $round prompt $p $*"
    $J -Dmoeprune.phases=true -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads 16 --prompt $p \
      --decode 64 --runs 2 "$@" 2>&1 | grep -E '^(decode|measured: CPU|garbage)|^(qkv|attend|o_proj|expert_gate_up|expert_down|lm_head|total) '
  done
done
date -u
