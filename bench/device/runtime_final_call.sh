#!/usr/bin/env bash
# The final call of a runtime change: the runtime against transformers (runtime_vs_transformers.sh: 1.9 B model,
# BF16, decode-heavy at 16 threads), then the current defaults against the previous ones (VARIANTS, default
# "default,nov24-0651": the variant names of DecodeAbBench) in one process (decode_variants_ab.sh, 6 rounds) and the
# kernel/runtime tests there. Carry .devbench. About 7 minutes.
set -u
grep -E '^cpu ' /proc/stat | awk '{print "steal ticks at the start: " $9}'
BIG_ONLY=1 DTYPES=bfloat16 DECODE_THREADS=16 bash bench/device/runtime_vs_transformers.sh
VARIANTS=${VARIANTS:-default,nov24-0651} ROUNDS=${ROUNDS:-6} bash bench/device/decode_variants_ab.sh
