#!/usr/bin/env bash
# DeepSeek-V3 calibration at the real layer shapes on one GPU (issue 22): the checkpoint of deepseek_v3_calibrate.sh
# (reused from $DIR, default /tmp/deepseek-v3-fp8, when a CPU run left it; else generated with 1 dense + MOE_LAYERS
# MoE layers, default 1: 13 GB, ~5 s at the device's 3 GB/s), the page cache dropped (as root), then DEMOS x TOKENS
# random tokens (8 x 2048) calibrated layer-major on cuda:0 (bench/run deepSeekV3Calibrate DIR --device cuda), after a
# warm-up on a tiny checkpoint (kernels compiled). Prints per layer the wall time, copy (host staging from the
# checkpoint + host->device upload + FP8 dequantisation on the device) and compute seconds, GB copied; the peak
# device memory; the projection for 3 dense + 58 MoE layers against the goal of 10 minutes on one H100. The
# calibration is stopped after CALIBRATE_S (default 360 s). An MoE layer's slot is 34.5 GB (FP8 + its BF16 copy);
# two slots fit an 80 GB card.
# On the GPU machine: carry .devbench (JAVA and CP default to it). Locally (no GPU: HostOps, the arithmetic in Java)
# at a tiny shape, e.g.:
#   JAVA=$JAVA_HOME/bin/java CP=target/moeprune.jar DEVICE=host DIR=/tmp/ds3-tiny DROP_CACHE=0 DEMOS=2 TOKENS=128 \
#     SHAPE=hidden=256,heads=4,qLora=64,kvLora=64,rope=32,nope=32,v=32,experts=16,groups=4,topkGroup=2,topK=4,moeInter=128,denseInter=256,vocab=512 \
#     bash bench/device/deepseek_v3_gpu_calibrate.sh
set -u -o pipefail
start=$(date +%s)
JAVA=${JAVA:-.devbench/jdk/bin/java}
CP=${CP:-.devbench/moeprune-slim.jar}
DIR=${DIR:-/tmp/deepseek-v3-fp8}
DEVICE=${DEVICE:-cuda}
MOE_LAYERS=${MOE_LAYERS:-1}
SHAPE=${SHAPE:-}
DEMOS=${DEMOS:-8}
TOKENS=${TOKENS:-2048}
CALIBRATE_S=${CALIBRATE_S:-360}
# The heap holds little (embeddings, routing tables); the two pinned staging buffers (2 x 34.5 GB) are off-heap.
J="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx${HEAP:-16g}"
bench() { $J ${JAVA_OPTS:-} -cp "$CP" io.moeprune.bench.DeepSeekV3CalibrateBench "$@" 2>&1 | grep -v 'WARNING: Using incubator'; }

date -u
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
. "$(dirname "${BASH_SOURCE[0]}")/deepseek_v3_checkpoint.sh"
ds3_checkpoint || exit $?
echo "checkpoint ready after $(( $(date +%s) - start )) s; calibrating on $DEVICE within $CALIBRATE_S s"
timeout "$CALIBRATE_S" $J ${JAVA_OPTS:-} -cp "$CP" io.moeprune.bench.DeepSeekV3CalibrateBench "$DIR" \
  --device "$DEVICE" --demos "$DEMOS" --tokens "$TOKENS" 2>&1 | grep -v 'WARNING: Using incubator'
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "calibration stopped after $CALIBRATE_S s: no table (the times are read once the run ends)"
echo "whole script $(( $(date +%s) - start )) s"; date -u
exit "$rc"
