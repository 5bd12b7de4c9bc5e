#!/usr/bin/env bash
# Issue 22, the GPU prefill's switches side by side: GpuSpeedBench's calibration and perplexity prefill (8x2048 tokens
# on the random 1.9 B Qwen3-MoE of gpu_vs_transformers.sh, weights resident, --runs 2 after a warm-up) in eight
# variants (VARIANTS="flash epilogue" runs only those), each in its own JVM, alternated over ROUNDS rounds (default 2)
# on the same GPU, the phase table on (-Dmoeprune.gpuPhases=true):
#   baseline      -Dmoeprune.attention=tensor
#   flash         -Dmoeprune.attention=flash (the default since 2026-12-07: 128-row blocks, K and V packed to BF16)
#   flash-64-f32  flash, -Dmoeprune.flashRows=64 -Dmoeprune.flashKv=f32 (the kernel's first layout)
#   flash-bf16out flash, -Dmoeprune.expertOutputs=bf16 (the experts' gate|up and down products written in BF16)
#   flash-waited  flash, -Dmoeprune.observerDownloads=waited (the pass waits for the observers' copies itself)
#   fused         flash, -Dmoeprune.fusedPrologue=true (the attention's prologue in fewer launches: per-head q/k norms)
#   fused-norms   flash, -Dmoeprune.fusedSlotNorms=true (the slot norms computed by the combine's own read)
#   epilogue      flash, -Dmoeprune.fusedAttentionEpilogue=true (q/k norms with the rope, the flash kernel writing
#                 o_proj's BF16 rows, o_proj accumulated into the residual; added 2026-12-07, not yet measured)
# Prints each run's tok/s lines and phase table rows. About 1-3 min on an H100 (2026-12-07: generating the model took
# 5 s, a JVM's calibrate and perplexity runs 5-10 s); each run has its own timeout (100 s), and a run that would end
# past 530 s from the start is skipped (said so), so the call stays under 9 min.
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g -Dmoeprune.gpuPhases=true"
M=/tmp/qwen3moe-1.9b
START=$(date +%s)
DEADLINE=$((START + 530))
RUN_LIMIT=100
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M 2>&1 | grep -v WARNING
variant_flags() {
  case "$1" in
    baseline) echo "-Dmoeprune.attention=tensor" ;;
    flash) echo "-Dmoeprune.attention=flash" ;;
    flash-64-f32) echo "-Dmoeprune.attention=flash -Dmoeprune.flashRows=64 -Dmoeprune.flashKv=f32" ;;
    flash-bf16out) echo "-Dmoeprune.attention=flash -Dmoeprune.expertOutputs=bf16" ;;
    flash-waited) echo "-Dmoeprune.attention=flash -Dmoeprune.observerDownloads=waited" ;;
    fused) echo "-Dmoeprune.attention=flash -Dmoeprune.fusedPrologue=true" ;;
    fused-norms) echo "-Dmoeprune.attention=flash -Dmoeprune.fusedSlotNorms=true" ;;
    epilogue) echo "-Dmoeprune.attention=flash -Dmoeprune.fusedAttentionEpilogue=true" ;;
  esac
}
for round in $(seq 1 "${ROUNDS:-2}"); do
  for variant in ${VARIANTS:-baseline flash flash-64-f32 flash-bf16out flash-waited fused fused-norms epilogue}; do
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt "$RUN_LIMIT" ]; then
      echo "== round $round, $variant: skipped (${left} s left before the 530 s deadline)"
      continue
    fi
    flags=$(variant_flags "$variant")
    echo "== round $round, $variant ($flags)"
    timeout $RUN_LIMIT $J $flags -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --batch 8 --seq 2048 --runs 2 --parts calibrate,perplexity 2>&1 \
      | grep -E 'java-gpu( calibrate| perplexity|:)|^(phase|weights|chunk_inputs|attention|routing|experts|combine|observers|shared_expert|finite_check|finish|lm_head|staging_wait|observer_wait|sum|wall) |Exception|Error'
    rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "   (timed out after $RUN_LIMIT s)"
  done
done
date -u
