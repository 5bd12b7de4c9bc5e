#!/usr/bin/env bash
# The GPU backend's tests on the GPU machine (CI has no GPU: there they skip): where the CUDA libraries are, what
# `moeprune devices` says, then the JUnit classes of io.moeprune.gpu (TESTS overrides the list). Carry .devbench
# (jdk, moeprune-slim.jar, junit, test-classes; NOTES.md, "The GPU machine").
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g ${JAVA_OPTS:-}"
CP=".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*"
G=io.moeprune.gpu
ALL="$G.CudaLibrariesProbeTest $G.GpuBasicsTest $G.CudaOpsTest $G.DeviceRoutingCudaTest $G.CudaOpsSpeedTest"
ALL="$ALL $G.GpuLayerMajorPassCudaTest $G.GpuGenerationCudaTest $G.TokenScoresCudaTest $G.ResidentPassCudaTest"
ALL="$ALL $G.ProfiledOpsCudaTest"
TESTS=${TESTS:-$ALL}
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>&1 | head -4
if [ "${PROBE:-1}" = 1 ]; then
  echo "== CUDA libraries"
  ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcudart|libcublas|libnvrtc' | head -12
  for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib; do
    [ -d "$d" ] && ls "$d" | grep -E '^lib(cudart|cublas|cublasLt|nvrtc|nvrtc-builtins)\.so' | sed "s|^|$d/|" | head -12
  done
  python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null
fi
echo "== moeprune devices"
$J -cp "$CP" io.moeprune.cli.Main devices
echo "== GPU tests"
$J -cp "$CP" RunTests $TESTS 2>&1 | grep -v -E 'WARNING|^\s*$|^\s+(java\.base|org\.junit)' | grep -v -E '\[ +0 ' | tail -200
date -u
