#!/usr/bin/env bash
# Session 8's final call: the runtime against transformers (final_runtime_bench.sh: 1.9 B model, BF16, decode-heavy at
# 16 threads), then this session's defaults against session 7's in one process (decode_ab_session7.sh, 6 rounds) and
# the kernel/runtime tests there. Carry .devbench. About 7 minutes.
set -u
BIG_ONLY=1 DTYPES=bfloat16 DECODE_THREADS=16 bash bench/device/final_runtime_bench.sh
VARIANTS=default,session7 ROUNDS=${ROUNDS:-6} bash bench/device/decode_ab_session7.sh
