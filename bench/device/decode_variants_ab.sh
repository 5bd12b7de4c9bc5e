#!/usr/bin/env bash
# kernel variants of the decode step compared in one process (bench/run decodeAb: alternated run by run),
# on the random 1.9 B Qwen3-MoE, then the kernel/runtime tests through the JUnit runner (AVX-512 here; CI has none).
# Carry .devbench (jdk, moeprune-slim.jar, junit, test-classes). VARIANTS, CONFIGS, ROUNDS, TESTS=0 to skip the tests.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
[ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
V=${VARIANTS:-default,nov24-0301}
ab() {
  echo "== threads $1 prompt $2 decode $3 rounds $4"
  $J -Dmoeprune.phases=true -cp .devbench/moeprune-slim.jar io.moeprune.bench.DecodeAbBench $big --threads $1 \
    --prompt $2 --decode $3 --rounds $4 --variants $V 2>&1 | grep -v WARNING \
    | grep -E '^(model|variant|[a-zA-Z0-9-]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +([0-9]+%|-)|decode phases|prefill phases|embed|norm|qkv|qk_norm_rope|attend|o_proj|residual|router|expert_gather|expert_gate_up|expert_down|lm_head|total) '
  grep -E '^(cpu )' /proc/stat | awk '{print "steal ticks so far: " $9}'
}
# CONFIGS: "threads:prompt:decode ..." (default: 16 and 8 threads after a 256-token prompt, 16 decode-heavy; a decode
# of 0 steps times the prefill)
for c in ${CONFIGS:-16:256:64 8:256:64 16:8:128}; do IFS=: read -r t p d <<< "$c"; ab $t $p $d ${ROUNDS:-8}; done
date -u
if [ "${TESTS:-1}" = 1 ]; then
  $J -cp ".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*" RunTests \
    io.moeprune.kernels.KernelsTest io.moeprune.kernels.LaneSumsTest io.moeprune.kernels.ParallelTest \
    io.moeprune.kernels.AmxBf16Test io.moeprune.runtime.ConformanceTest io.moeprune.runtime.CausalAttentionTest \
    io.moeprune.runtime.MaskMatchesPrunedCheckpointTest io.moeprune.runtime.DecodeSchedulingTest 2>&1 | grep -v -E 'WARNING|^\s*$|^\s+(java\.base|org\.junit)' \
    | grep -v -E '\[ +0 ' | tail -25
fi
date -u
