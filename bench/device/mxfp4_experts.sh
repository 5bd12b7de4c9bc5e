#!/usr/bin/env bash
# gpt-oss MXFP4 experts on the GPU machine's AVX-512 cores: the tests that cover them (the 16-lane vector path runs
# nowhere else), then one gpt-oss-20b-shaped MoE layer in BF16 (input-major) and MXFP4 at 16, 8 and 2 threads.
# Carry .devbench (jdk, moeprune-slim.jar, junit, test-classes).
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
nproc; lscpu | grep -E 'Model name|Flags' | grep -o -E 'Model name.*|avx512f|avx512_bf16|amx_tile' | sort -u | tr '\n' ' '; echo; date -u
$J -cp ".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*" RunTests \
  io.moeprune.kernels.Mxfp4MatrixTest io.moeprune.kernels.KernelsTest io.moeprune.runtime.ConformanceTest \
  io.moeprune.prune.PruneVerifyTest 2>&1 | grep -v -E 'WARNING|^\s*$|^\s+(java\.base|org\.junit)' | grep -v -E '\[ +0 ' | tail -25
for t in ${THREADS:-16 8 2}; do
  for f in bf16 mxfp4; do
    $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.GptOssExpertsBench --format $f --threads $t --tokens ${TOKENS:-256} 2>&1 | grep -v WARNING
  done
done
date -u
