#!/usr/bin/env bash
# Issue 22's decode goal, the experts' products' paths side by side: GpuSpeedBench's greedy decode (--parts decode: one
# sequence through Generator, and 32 sequences stepped at once; 64 steps after a 128-token prompt, --runs 3 after a
# warm-up) on the Qwen3-30B-A3B shape with 8 of its 48 layers (hidden 2048, 128 experts top-8 of 768, vocab 151,936;
# 11.2 GB, generated into /tmp as gpu_vs_transformers.sh does), with -Dmoeprune.groupedPath= each of PATHS (default
# "auto gemv": cuBLAS's batched products against kernels.cu's grouped_gemv, one launch for every expert of few rows),
# each in its own JVM, alternated over ROUNDS rounds (default 2) on the same GPU. A step of 32 sequences routes 256
# slots over 128 experts (~2 rows an expert): on 2026-12-07 auto gave 1,695 tok/s against transformers' 2,569.
# Each run has its own timeout (150 s), and a run that would end past 530 s from the start is skipped (said so), so
# the call stays under 9 min; expect 3-6 min on an H100 (generating the model, then four JVMs each uploading the
# weights). OPS=1 adds -Dmoeprune.gpuOps=true (the per-operation table: the grouped products' own time).
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
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
for round in $(seq 1 "${ROUNDS:-2}"); do
  for path in ${PATHS:-auto gemv}; do
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -lt "$RUN_LIMIT" ]; then
      echo "== round $round, $path: skipped (${left} s left before the 530 s deadline)"
      continue
    fi
    echo "== round $round, -Dmoeprune.groupedPath=$path"
    timeout $RUN_LIMIT $J -Dmoeprune.groupedPath=$path -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench \
      $M --prompt 128 --decode 64 --decode-batch 32 --runs 3 --parts decode 2>&1 | grep -v WARNING
    rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "   (timed out after $RUN_LIMIT s)"
  done
done
date -u
