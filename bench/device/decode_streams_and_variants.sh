#!/usr/bin/env bash
# the decode streams bench at 16 threads (row kernels and regions against the read probe, from memory),
# then decode variants alternated in one process (decode_variants_ab.sh: VARIANTS, CONFIGS, ROUNDS, TESTS) and the
# kernel tests (LaneSumsTest as well). Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
for v in true false; do
  echo "== decodeStreams, 16 threads, shuffledSums=$v"
  $J -Dmoeprune.shuffledSums=$v -cp .devbench/moeprune-slim.jar io.moeprune.bench.DecodeStreamsBench --threads 16 \
    --mb 1024 2>&1 | grep -v WARNING
done
TESTS=0 bash bench/device/decode_variants_ab.sh
if [ "${TESTS:-1}" = 1 ]; then
  $J -cp ".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*" RunTests \
    io.moeprune.kernels.KernelsTest io.moeprune.kernels.LaneSumsTest io.moeprune.kernels.ParallelTest \
    io.moeprune.runtime.ConformanceTest io.moeprune.runtime.CausalAttentionTest 2>&1 | grep -v WARNING | tail -6
fi
date -u
