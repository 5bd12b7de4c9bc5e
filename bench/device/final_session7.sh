#!/usr/bin/env bash
# Session 7's final call: the runtime against transformers (final_runtime_bench.sh, 1.9 B model, BF16, decode-heavy at
# 16 threads), then this session's defaults against session 6's, alternated in one process (decode_ab_session7.sh;
# CONFIGS as there, default all three). Carry .devbench. About 6-7.5 minutes.
set -u
BIG_ONLY=1 DTYPES=bfloat16 DECODE_THREADS=16 bash bench/device/final_runtime_bench.sh
VARIANTS=default,session6 ROUNDS=${ROUNDS:-8} TESTS=0 bash bench/device/decode_ab_session7.sh
