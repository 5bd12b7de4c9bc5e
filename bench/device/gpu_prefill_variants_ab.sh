#!/usr/bin/env bash
# Issue 22, the GPU prefill's switches side by side: GpuSpeedBench's calibration and perplexity prefill (8x2048 tokens
# on the random 1.9 B Qwen3-MoE of gpu_vs_transformers.sh, weights resident, --runs 2 after a warm-up) in several
# variants (VARIANTS="default epilogue-scalar" runs only those), each in its own JVM, alternated over ROUNDS rounds
# (default 2) on the same GPU, the phase table on (-Dmoeprune.gpuPhases=true). The defaults (since 2026-12-07 10:40
# UTC): flash attention (128-row blocks, BF16 K/V), the fused prologue and slot norms, the MoE block's and the
# attention's fused epilogues, one-pass token scores; F32 expert outputs; the vector epilogue kernel (since 12:05).
# Variants, each against the defaults:
#   default          no switch
#   unfused          every fusion off and two-pass token scores (the passes of 2026-12-07 09:00 UTC)
#   no-moe-epilogue  -Dmoeprune.fusedEpilogue=false (combine, norms, turns, residual add and finite check apart)
#   no-attn-epilogue -Dmoeprune.fusedAttentionEpilogue=false (norms and rope apart, F32 attention rows, branch add)
#   two-pass         -Dmoeprune.tokenScores=two-pass (perplexity: the row read twice)
#   tensor           -Dmoeprune.attention=tensor (the tensor-core attention path instead of flash)
#   bf16out          -Dmoeprune.expertOutputs=bf16 (the experts' gate|up and down products written in BF16)
#   epilogue-scalar  -Dmoeprune.epilogueKernel=scalar (the fused MoE epilogue a column a thread; the default until
#                    2026-12-07 12:05 UTC, when the vector kernel, 4 columns a thread in 16-byte loads, replaced it)
#   observers-compute -Dmoeprune.observerDownloads=compute-stream (calibration: the observers' five copies a MoE layer
#                    on the compute stream, as before the download stream (2026-12-07), instead of on the download
#                    stream, where they overlap the next layer's attention; perplexity has no observers: the same as
#                    default)
# Prints each run's tok/s lines and phase table rows. About 1-3 min on an H100 (2026-12-07: generating the model took
# 5 s, a JVM's calibrate and perplexity runs 5-10 s); each run has its own timeout (100 s), and a run that would end
# past 530 s from the start is skipped (said so), so the call stays under 9 min. OPS=1 adds -Dmoeprune.gpuOps=true
# (the per-operation tables after the phases: the compute stream's, then the download stream's copies). MODEL and SHAPE:
# another random model, e.g. the Qwen3-30B-A3B shape with 8 of its 48 layers: MODEL=/tmp/qwen3-30b-a3b-8l
# SHAPE="2048,8,32,4,128,128,8,768,151936 --embedding-scale 256". Carry .devbench (jdk, moeprune-slim.jar; NOTES.md,
# "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g -Dmoeprune.gpuPhases=true"
[ "${OPS:-0}" = 1 ] && J="$J -Dmoeprune.gpuOps=true"
M=${MODEL:-/tmp/qwen3moe-1.9b}
START=$(date +%s)
DEADLINE=$((START + 530))
RUN_LIMIT=100
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M \
  ${SHAPE:+--shape $SHAPE} 2>&1 | grep -v WARNING
variant_flags() {
  case "$1" in
    default) echo "" ;;
    unfused) echo "-Dmoeprune.fusedPrologue=false -Dmoeprune.fusedSlotNorms=false -Dmoeprune.fusedEpilogue=false" \
      "-Dmoeprune.fusedAttentionEpilogue=false -Dmoeprune.tokenScores=two-pass" ;;
    no-moe-epilogue) echo "-Dmoeprune.fusedEpilogue=false" ;;
    no-attn-epilogue) echo "-Dmoeprune.fusedAttentionEpilogue=false" ;;
    two-pass) echo "-Dmoeprune.tokenScores=two-pass" ;;
    tensor) echo "-Dmoeprune.attention=tensor" ;;
    bf16out) echo "-Dmoeprune.expertOutputs=bf16" ;;
    epilogue-scalar) echo "-Dmoeprune.epilogueKernel=scalar" ;;
    observers-compute) echo "-Dmoeprune.observerDownloads=compute-stream" ;;
  esac
}
ALL_VARIANTS="default unfused no-moe-epilogue no-attn-epilogue two-pass tensor bf16out epilogue-scalar \
observers-compute"
for round in $(seq 1 "${ROUNDS:-2}"); do
  for variant in ${VARIANTS:-$ALL_VARIANTS}; do
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt "$RUN_LIMIT" ]; then
      echo "== round $round, $variant: skipped (${left} s left before the 530 s deadline)"
      continue
    fi
    flags=$(variant_flags "$variant")
    echo "== round $round, $variant ($flags)"
    timeout $RUN_LIMIT $J $flags -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --batch 8 --seq 2048 --runs 2 --parts calibrate,perplexity 2>&1 \
      | grep -vE 'WARNING|^java-gpu (calibrate|perplexity) (phases|operations \(last run, compute)'
    rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "   (timed out after $RUN_LIMIT s)"
  done
done
date -u
