#!/usr/bin/env bash
# Calibration tokens/s on the GPU runtime against the CPU's in one process (GpuPassBench): a random 1.1 GB checkpoint
# (8 layers of 64 experts, written to /tmp on the device first), 32 demonstrations x 256 tokens, on the CPU, on
# cuda:0 whole, and under --gpu-memory 600MB (less than the checkpoint: its layers stream through two slots).
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). ARGS overrides the bench's arguments.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
$J -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuPassBench ${ARGS:-/tmp/gpu-pass-bench-model --demos 32 --tokens 256 --gpu-memory 0,600MB} 2>&1 | grep -v WARNING
date -u
