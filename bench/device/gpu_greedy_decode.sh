#!/usr/bin/env bash
# Issue 22's decode goal, greedy decoding on the device (2026-12-07): first the checks of the new kernel and path
# (CudaOpsTest#greedyTokensMatchHostOps: greedy_tokens against HostOps, ids and flags exact on 32 rows of 151,936 and
# odd widths; TokenScoresCudaTest: the token scores' kernels, which now share greedy_tokens' row reading; and
# GpuGenerationCudaTest#greedyTokensOnTheDeviceEqualTheLogitsPathsArgmax), then GpuSpeedBench's greedy decode
# (--parts decode, 64 steps after a 128-token prompt, --runs 3 after a warm-up) on the Qwen3-30B-A3B shape with 8 of
# its 48 layers (hidden 2048, 128 experts top-8, vocab 151,936; 11.2 GB, generated into /tmp as
# gpu_vs_transformers.sh does): batch 1 through Generator and batch 32 through GpuDecoder, each with the argmax on the
# device and then, in the same JVM, with the logits downloaded to the host's argmax, and their ratios. The baseline
# of 2026-12-07 12:01 UTC: 2,128-2,222 tok/s at batch 32 against transformers' 3,086. ROUNDS (default 2) repeats the
# benchmark. Expect 5-8 min on an H100 (the model's generation about 1.5 of them). Carry .devbench (jdk,
# moeprune-slim.jar, junit, test-classes; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
J="$J -XX:+UseParallelGC -Xmx24g"
M=${MODEL:-/tmp/qwen3-30b-a3b-8l}
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
if [ "${TESTS:-1}" = 1 ]; then
  G=io.moeprune.gpu
  PROBE=0 TESTS="$G.CudaOpsTest#greedyTokensMatchHostOps $G.TokenScoresCudaTest \
$G.GpuGenerationCudaTest#greedyTokensOnTheDeviceEqualTheLogitsPathsArgmax" timeout 240 bash bench/device/gpu_tests.sh
fi
[ -f $M/config.json ] || timeout 240 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M \
  --shape ${SHAPE:-2048,8,32,4,128,128,8,768,151936} --embedding-scale ${EMBEDDING_SCALE:-256} 2>&1 | grep -v WARNING
for round in $(seq 1 "${ROUNDS:-2}"); do
  echo "== round $round"
  timeout 150 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
    $M --prompt 128 --decode 64 --decode-batch 32 --runs 3 --parts decode 2>&1 | grep -v WARNING
  [ "${PIPESTATUS[0]}" = 124 ] && echo "   (timed out after 150 s)"
done
date -u
