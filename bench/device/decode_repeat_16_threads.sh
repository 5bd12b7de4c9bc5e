#!/usr/bin/env bash
# Whole 16-thread runs of the runtime bench, back to back (one JVM each), for the decode-vs-roofline median that issue 3
# asks about: the 1.9 B random Qwen3-MoE in BF16, 256-token prompt, 32 decode steps, 3 timed runs per process. RUNS
# chooses how many processes (default 6), TRANSFORMERS=1 adds one transformers BF16 run of the same size at the end.
# Carry .devbench (jlinked JDK + slim jar, see NOTES.md). Do not pipe through `tail` (a call that times out returns
# nothing then).
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
nproc; lscpu | grep -E 'Model name'; date -u
big=/tmp/qwen3moe-1.9b
[ -f $big/config.json ] || $J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for i in $(seq 1 ${RUNS:-6}); do
  echo "== run $i $(date -u +%T)"
  $J io.moeprune.bench.RuntimeBench $big --threads ${THREADS:-16} --prompt 256 --decode 32 --runs 3 2>&1 \
    | grep -E '^(prefill|decode|measured)'
done
[ -z "${TRANSFORMERS:-}" ] || timeout 240 python3 bench/device/transformers_cpu_bench.py $big --threads ${THREADS:-16} \
  --dtype bfloat16 --prompt 256 --decode 32 --runs 3 2>&1 | grep '^transformers'
date -u
