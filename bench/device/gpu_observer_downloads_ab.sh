#!/usr/bin/env bash
# Issue 22, the observers' downloads queued (ObserverDownloads) instead of waited for: GpuSpeedBench's calibration
# prefill (8x2048 tokens on the random 1.9 B Qwen3-MoE of gpu_vs_transformers.sh) with the pass waiting for each
# chunk-layer's copies itself (-Dmoeprune.observerDownloads=waited: one stall a MoE layer) and with them queued (the
# default: the workers wait), ROUNDS times alternated (default 2) on the same GPU, the phase table on
# (-Dmoeprune.gpuPhases=true: the `observers` stream phase and the `observer_wait` host waits). About 3-4 min on an
# H100 with the model in /tmp (120 s to generate it first; 150 s a run at most).
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g -Dmoeprune.gpuPhases=true"
M=/tmp/qwen3moe-1.9b
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M 2>&1 | grep -v WARNING
for round in $(seq 1 "${ROUNDS:-2}"); do
  for mode in waited queued; do
    echo "== round $round, observer downloads: $mode"
    timeout 150 $J -Dmoeprune.observerDownloads=$mode -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --batch 8 --seq 2048 --prompt 128 --decode 8 --decode-batch 8 --runs 3 --parts calibrate 2>&1 \
      | grep -E 'java-gpu( calibrate|:)|^(phase|weights|attention|routing|experts|combine|observers|observer_wait|staging_wait|finish|sum|wall) |Exception|Error'
  done
done
date -u
