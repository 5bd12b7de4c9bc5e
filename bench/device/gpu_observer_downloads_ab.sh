#!/usr/bin/env bash
# Issue 22, where the observers' downloads run (ObserverDownloads, -Dmoeprune.observerDownloads): GpuSpeedBench's
# calibration prefill (8x2048 tokens on the random 1.9 B Qwen3-MoE of gpu_vs_transformers.sh) with the pass waiting
# for each chunk-layer's copies itself (waited: one stall a MoE layer), with them queued on the compute stream
# (compute-stream: the workers wait, the kernels after them wait for the PCIe copies) and on a download stream of
# their own (download-stream, the default since 2026-12-07, branch gpu-observer-download-stream: they overlap the
# next layer's attention), ROUNDS times alternated (default 2) on the same GPU, the phase table on
# (-Dmoeprune.gpuPhases=true: the `observers` stream phase and the `observer_wait` host waits). About 4-6 min on an H100
# with the model in /tmp (120 s to generate it first; 150 s a run at most; a run that could end past 530 s from the
# start is skipped, said so). MODES picks some of them (MODES="compute-stream download-stream").
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g -Dmoeprune.gpuPhases=true"
M=/tmp/qwen3moe-1.9b
DEADLINE=$(($(date +%s) + 530))
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M 2>&1 | grep -v WARNING
for round in $(seq 1 "${ROUNDS:-2}"); do
  for mode in ${MODES:-waited compute-stream download-stream}; do
    if [ $((DEADLINE - $(date +%s))) -lt 150 ]; then
      echo "== round $round, observer downloads: $mode: skipped (the 530 s deadline)"
      continue
    fi
    echo "== round $round, observer downloads: $mode"
    timeout 150 $J -Dmoeprune.observerDownloads=$mode -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --batch 8 --seq 2048 --prompt 128 --decode 8 --decode-batch 8 --runs 3 --parts calibrate 2>&1 \
      | grep -E 'java-gpu( calibrate|:)|^(phase|weights|attention|routing|experts|combine|observers|observer_wait|staging_wait|finish|sum|wall) |Exception|Error'
  done
done
date -u
