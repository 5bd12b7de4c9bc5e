#!/usr/bin/env bash
# The runtime's correctness tests on the GPU machine's cores (AVX-512, AMX: paths no CI machine has), each kernel
# selection in turn. Carry .devbench (jdk, moeprune-slim.jar, junit, test-classes; NOTES.md, "The GPU machine").
# TESTS overrides the list of test classes.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx16g"
CP=".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*"
TESTS=${TESTS:-"io.moeprune.kernels.KernelsTest io.moeprune.kernels.AmxBf16Test io.moeprune.kernels.Mxfp4MatrixTest
  io.moeprune.runtime.ConformanceTest io.moeprune.runtime.LayerMajorTest io.moeprune.runtime.MlaLatentCacheTest
  io.moeprune.runtime.DecodeSchedulingTest io.moeprune.runtime.NonFiniteForwardTest
  io.moeprune.runtime.MaskMatchesPrunedCheckpointTest io.moeprune.prune.PruneStrategyTest io.moeprune.prune.PruneVerifyTest
  io.moeprune.runtime.GroupStrategyRoutingTest io.moeprune.runtime.BatchedDecodeTest"}
nproc; lscpu | grep -E 'Model name|Flags' | grep -o -E 'Model name.*|avx512f|avx512_bf16|amx_tile' | sort -u | tr '\n' ' '; echo; date -u
for mode in ${MODES:-auto scalar}; do
  echo "== -Dmoeprune.kernels=$mode"
  $J -Dmoeprune.kernels=$mode -cp "$CP" RunTests $TESTS 2>&1 | grep -v -E 'WARNING|^\s*$|^\s+(java\.base|org\.junit)' \
    | grep -v -E '\[ +0 ' | tail -30
done
date -u
