#!/usr/bin/env bash
# Issue 22, the calibration observers off the GPU pass's critical path: GpuSpeedBench's calibration prefill (8x2048
# tokens on the random 1.9 B Qwen3-MoE of gpu_vs_transformers.sh) with the observers on the pass's thread
# (-Dmoeprune.observerThreads=0) and on the workers (the default), ROUNDS times alternated (default 1) on the same
# GPU, then the host-only observer benchmark (calibrationObserver: ms per layer before/after, serial vs workers) on this
# machine's cores. About 3-5 min on an H100 with ROUNDS=1 (each GpuSpeedBench run also times perplexity and a short
# decode); the timeouts add up to 8 min (120 s model generation, 150 s a run, 60 s the host benchmark), so ROUNDS=2
# belongs in a call of its own once the model exists in /tmp.
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g"
M=/tmp/qwen3moe-1.9b
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
nproc
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M 2>&1 | grep -v WARNING
for round in $(seq 1 "${ROUNDS:-1}"); do
  for threads in 0 default; do
    opt=""; [ "$threads" = default ] || opt="-Dmoeprune.observerThreads=$threads"
    echo "== round $round, observer threads: $threads"
    timeout 150 $J $opt -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench $M --batch 8 --seq 2048 \
      --prompt 128 --decode 8 --decode-batch 8 --runs 3 2>&1 | grep -E 'java-gpu( calibrate| perplexity|:)|Exception|Error'
  done
done
echo "== calibrationObserver (host only)"
timeout 60 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.CalibrationObserverBench 2>&1 | grep -v WARNING
date -u
