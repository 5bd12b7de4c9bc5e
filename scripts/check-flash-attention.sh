#!/usr/bin/env bash
# The flash attention kernel (kernels.cu's flash_attention_*, both variants: K/V read as F32 and the _bf16kv
# entry points on BF16 K/V by cp.async) checked without a GPU: nvcc's registers and spills for
# sm_90 (ARCH overrides; skipped without nvcc; a spill fails the check), then the kernel's own source run on the CPU by
# a warp emulator under the address and undefined-behaviour sanitizers against attention in double, and its BF16
# output rows (outBf16) bit for bit against to_bf16 of its F32 rows (src/test/cuda/flash). Needs g++ (C++20) and
# python3; about a minute on 2 idle cores (23 min on 2026-12-07 with the machine's load at ~120).
set -euo pipefail
cd "$(dirname "$0")/.."
KERNELS=src/main/resources/io/moeprune/gpu/kernels.cu
SRC=src/test/cuda/flash
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v nvcc >/dev/null; then
  nvcc -arch="${ARCH:-sm_90}" -cubin -Xptxas -v -o "$tmp/kernels.cubin" "$KERNELS" 2>"$tmp/ptxas.txt"
  grep -A2 "properties for flash" "$tmp/ptxas.txt" | grep -v '^--' | sed 's/^ptxas info *: //'
  if grep -A1 "properties for flash" "$tmp/ptxas.txt" | grep -q -E '[1-9][0-9]* bytes spill'; then
    echo "flash attention: local-memory spills" >&2
    exit 1
  fi
else
  echo "nvcc not found: registers not checked"
fi
python3 "$SRC/extract_flash_kernel.py" "$KERNELS" "$tmp/flash_kernel.h"
g++ -std=c++20 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -pthread -I "$SRC" -I "$tmp" \
    -o "$tmp/check" "$SRC/flash_attention_check.cpp"
"$tmp/check"
