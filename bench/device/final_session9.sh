#!/usr/bin/env bash
# Session 9's final call: the runtime against transformers (final_runtime_bench.sh: 1.9 B model, BF16, decode-heavy at
# 16 threads), then this session's defaults (owned chunks, workers reading the next product ahead) against session 8's
# in one process (decode_ab_session7.sh, 6 rounds) and the kernel/runtime tests there. Carry .devbench. About 7 minutes.
set -u
grep -E '^cpu ' /proc/stat | awk '{print "steal ticks at the start: " $9}'
BIG_ONLY=1 DTYPES=bfloat16 DECODE_THREADS=16 bash bench/device/final_runtime_bench.sh
VARIANTS=${VARIANTS:-default,session8} ROUNDS=${ROUNDS:-6} bash bench/device/decode_ab_session7.sh
