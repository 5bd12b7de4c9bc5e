#!/usr/bin/env bash
# DeepSeek-V3 calibration at the real layer shapes (issue 20): generates a random FP8 DeepSeek-V3 checkpoint of
# 1 dense + N MoE layers (RandomDeepSeekV3: hidden 7168, MLA q LoRA 1536 / KV LoRA 512 / rope 64 / nope 128 / v 128,
# 128 heads, 256 experts of 2048 with 128x128 block scales, 8 groups / top-4 groups / top-8, one shared expert, dense
# layer 18432, vocab 32000; 11.5 GB per MoE layer), drops the page cache (as root), then calibrates DEMOS x TOKENS random
# tokens layer-major (bench/run deepSeekV3Calibrate): per layer wall time, bytes read and attention / experts / MLP
# seconds, the total's bytes read and peak resident set, and the projection for 3 dense + 58 MoE layers against the
# goal of 20 minutes. Whole run budgeted to BUDGET_S (default 530 s, for a 9-minute device call); generation included.
# On the GPU machine: carry .devbench (JAVA and CP default to it). Locally, at a reduced scale, e.g.:
#   JAVA=$JAVA_HOME/bin/java CP=target/moeprune.jar DROP_CACHE=0 THREADS=2 DEMOS=2 TOKENS=512 \
#     SHAPE=hidden=1024,experts=32,moeInter=256,denseInter=2048,heads=16,qLora=256,kvLora=128,vocab=4096 \
#     bash bench/device/deepseek_v3_calibrate.sh
set -u -o pipefail
start=$(date +%s)
JAVA=${JAVA:-.devbench/jdk/bin/java}
CP=${CP:-.devbench/moeprune-slim.jar}
DIR=${DIR:-/tmp/deepseek-v3-fp8}
MOE_LAYERS=${MOE_LAYERS:-3}
SHAPE=${SHAPE:-}
DEMOS=${DEMOS:-8}
TOKENS=${TOKENS:-2048}
THREADS=${THREADS:-$(nproc)}
BUDGET_S=${BUDGET_S:-530}
J="$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx${HEAP:-48g}"
bench() { $J ${JAVA_OPTS:-} -cp "$CP" io.moeprune.bench.DeepSeekV3CalibrateBench "$@" 2>&1 | grep -v 'WARNING: Using incubator'; }

. "$(dirname "${BASH_SOURCE[0]}")/deepseek_v3_checkpoint.sh"
ds3_checkpoint || exit $?
left=$(( BUDGET_S - ($(date +%s) - start) ))
echo "generation and sync took $(( $(date +%s) - start )) s; calibrating within $left s"
timeout "$left" $J -Dmoeprune.phases=true -Dmoeprune.streamWeights=true ${JAVA_OPTS:-} -cp "$CP" \
  io.moeprune.bench.DeepSeekV3CalibrateBench "$DIR" --demos "$DEMOS" --tokens "$TOKENS" --threads "$THREADS" \
  2>&1 | grep -v 'WARNING: Using incubator'
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "calibration stopped at the budget (${BUDGET_S} s in all): the layers above are what finished"
echo "whole script $(( $(date +%s) - start )) s"; date -u
exit "$rc"
