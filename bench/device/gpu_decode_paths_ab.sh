#!/usr/bin/env bash
# Issue 22's decode goal, the experts' products' paths side by side: GpuSpeedBench's greedy decode (--parts decode: one
# sequence through Generator, and 32 sequences stepped at once; 64 steps after a 128-token prompt, --runs 3 after a
# warm-up) on the Qwen3-30B-A3B shape with 8 of its 48 layers (hidden 2048, 128 experts top-8 of 768, vocab 151,936;
# 11.2 GB, generated into /tmp as gpu_vs_transformers.sh does), each of VARIANTS in its own JVM, alternated over ROUNDS
# rounds (default 2) on the same GPU. A variant is a -Dmoeprune.groupedPath value, with "-device" appended for
# -Dmoeprune.decodeRouting=device too (a decode step's experts' counts left on the device, no host round trip in its
# MoE blocks); default "batched auto auto-device": cuBLAS's batched products, auto (since 2026-12-07 12:05 UTC
# kernels.cu's grouped_gemv where no expert has more than 8 rows: one launch for every expert, the counts downloaded
# each block), and grouped_gemv_routed (the counts read on the device: the defaults since then).
# PATHS (the older name: paths only) is taken when VARIANTS is unset. A step of 32 sequences routes 256 slots over 128
# experts (~2 rows an expert): on 2026-12-07 auto gave 1,695 tok/s against transformers' 2,569.
# Each run has its own timeout (150 s), and a run that would end past 530 s from the start is skipped (said so), so
# the call stays under 9 min; expect 5-9 min on an H100 (generating the model, then six JVMs each uploading the
# weights; ROUNDS=1 for half). OPS=1 adds -Dmoeprune.gpuOps=true (the per-operation table: the grouped products' own
# time). Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
J="$J -XX:+UseParallelGC -Xmx24g"
[ "${OPS:-0}" = 1 ] && J="$J -Dmoeprune.gpuOps=true"
M=${MODEL:-/tmp/qwen3-30b-a3b-8l}
START=$(date +%s)
DEADLINE=$((START + 530))
RUN_LIMIT=150
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 240 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M \
  --shape ${SHAPE:-2048,8,32,4,128,128,8,768,151936} --embedding-scale ${EMBEDDING_SCALE:-256} 2>&1 | grep -v WARNING
# The JVM flags of variant $1: its groupedPath, and decodeRouting=device for a "-device" suffix.
flags() {
  case "$1" in
    *-device) echo "-Dmoeprune.groupedPath=${1%-device} -Dmoeprune.decodeRouting=device" ;;
    *) echo "-Dmoeprune.groupedPath=$1 -Dmoeprune.decodeRouting=host" ;;
  esac
}
for round in $(seq 1 "${ROUNDS:-2}"); do
  for variant in ${VARIANTS:-${PATHS:-batched auto auto-device}}; do
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt "$RUN_LIMIT" ]; then
      echo "== round $round, $variant: skipped (${left} s left before the 530 s deadline)"
      continue
    fi
    echo "== round $round, $variant: $(flags "$variant")"
    timeout $RUN_LIMIT $J $(flags "$variant") -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --prompt 128 --decode 64 --decode-batch 32 --runs 3 --parts decode 2>&1 | grep -v WARNING
    rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "   (timed out after $RUN_LIMIT s)"
  done
done
date -u
