#!/usr/bin/env bash
# Issue 22, where the GPU prefill's time goes kernel by kernel: GpuSpeedBench's calibration and perplexity prefill
# (8x2048 tokens, weights resident, --runs 2 after a warm-up) with the per-operation profile of the compute stream
# (-Dmoeprune.gpuOps=true: per operation calls, ms, mean us, share of the stream, and the stream's idle gaps; printed
# after the phase table), and the token scores' two kernels, each variant in its own JVM, on two random Qwen3-MoE
# models (RuntimeBench --generate, /tmp): the 1.9 B of gpu_vs_transformers.sh and the Qwen3-30B-A3B shape with 8 of
# its 48 layers (vocabulary 151,936: the LM head and token_scores weigh most there). Variants:
#   phases        -Dmoeprune.gpuPhases=true (the phase table only: the tok/s the op profile's overhead is measured on)
#   ops           phases and -Dmoeprune.gpuOps=true (the phase table, then the operations' table)
#   one-pass      phases and -Dmoeprune.tokenScores=one-pass (perplexity only: token_scores in one read of a row)
#   one-pass-ops  one-pass and -Dmoeprune.gpuOps=true (token_scores' own time beside two-pass's in the ops variant)
# About 3-4 min on an H100 (2026-12-07: generating the models took 5 s and 22 s, a JVM's runs 10-15 s); each run has
# its own timeout (100 s), a run that would end past 530 s from the start is skipped (said so), so the call stays under
# 9 min; ROUNDS (default 1) repeats the variants alternated. With the test classes in .devbench (WITH_TESTS=1) it
# first runs ProfiledOpsCudaTest and TokenScoresCudaTest (both kernels against HostOps, their times on 2048 x 151,936;
# about 30 s; TESTS=0 leaves them out). Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The
# GPU machine"). Do not pipe the output through `tail`: it is about 35 KB, more than a device call's output tail, so the
# whole of it is also written to $OUT/gpu_op_profile_ab.log (/tmp without $OUT), which comes back with the call.
set -u
exec > >(tee "${OUT:-/tmp}/gpu_op_profile_ab.log") 2>&1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
J="$J -XX:+UseParallelGC -Xmx24g -Dmoeprune.gpuPhases=true"
START=$(date +%s)
DEADLINE=$((START + 530))
RUN_LIMIT=100
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
model_dir() {
  case "$1" in
    1.9b) echo /tmp/qwen3moe-1.9b ;;
    q30-8l) echo /tmp/qwen3-30b-a3b-8l ;;
  esac
}
model_shape() {
  case "$1" in
    1.9b) echo "" ;;
    q30-8l) echo "--shape 2048,8,32,4,128,128,8,768,151936 --embedding-scale 256" ;;
  esac
}
variant_flags() {
  case "$1" in
    phases) echo "" ;;
    ops) echo "-Dmoeprune.gpuOps=true" ;;
    one-pass) echo "-Dmoeprune.tokenScores=one-pass" ;;
    one-pass-ops) echo "-Dmoeprune.tokenScores=one-pass -Dmoeprune.gpuOps=true" ;;
  esac
}
variant_parts() {
  case "$1" in
    phases|ops) echo "calibrate,perplexity" ;;
    *) echo "perplexity" ;;
  esac
}
for model in 1.9b q30-8l; do
  M=$(model_dir $model)
  [ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M \
    $(model_shape $model) 2>&1 | grep -v WARNING
done
if [ -d .devbench/test-classes ] && [ "${TESTS:-1}" = 1 ]; then
  echo "== ProfiledOpsCudaTest, TokenScoresCudaTest"
  CP=".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*"
  timeout 120 $J -cp "$CP" \
    RunTests io.moeprune.gpu.ProfiledOpsCudaTest io.moeprune.gpu.TokenScoresCudaTest 2>&1 \
    | grep -v -E 'WARNING|^\s*$|^\s+(java\.base|org\.junit)'
fi
for round in $(seq 1 "${ROUNDS:-1}"); do
  for model in 1.9b q30-8l; do
    for variant in phases ops one-pass one-pass-ops; do
      left=$((DEADLINE - $(date +%s)))
      if [ "$left" -lt "$RUN_LIMIT" ]; then
        echo "== round $round, $model, $variant: skipped (${left} s left before the 530 s deadline)"
        continue
      fi
      flags=$(variant_flags "$variant")
      echo "== round $round, $model, $variant (${flags:-no switch}; parts $(variant_parts "$variant"))"
      timeout $RUN_LIMIT $J $flags -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
        $(model_dir $model) --batch 8 --seq 2048 --runs 2 --parts $(variant_parts "$variant") 2>&1 | grep -v WARNING
      rc=${PIPESTATUS[0]}
      [ "$rc" = 124 ] && echo "   (timed out after $RUN_LIMIT s)"
    done
  done
done
date -u
