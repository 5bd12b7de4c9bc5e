#!/usr/bin/env bash
# The experts' grouped small-row products (kernels.cu's grouped_gemv and grouped_gemv_bf16, the gemv path of
# -Dmoeprune.groupedPath; grouped_gemv_routed and grouped_gemv_routed_bf16, their counts read on the device for
# -Dmoeprune.decodeRouting=device: counts 0..20 in pieces, masked experts) checked without a GPU: nvcc's registers and
# spills for sm_90 (ARCH overrides; skipped without nvcc; a spill fails the check), then the kernels' own source run on
# the CPU by the flash check's warp emulator under the address and undefined-behaviour sanitizers against the products
# in double, and the BF16 outputs bit for bit against to_bf16 of the F32 ones (src/test/cuda/gemv). Needs g++ (C++20)
# and python3; a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
KERNELS=src/main/resources/io/moeprune/gpu/kernels.cu
SRC=src/test/cuda/gemv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v nvcc >/dev/null; then
  nvcc -arch="${ARCH:-sm_90}" -cubin -Xptxas -v -o "$tmp/kernels.cubin" "$KERNELS" 2>"$tmp/ptxas.txt"
  grep -A2 "properties for grouped_gemv" "$tmp/ptxas.txt" | grep -v '^--' | sed 's/^ptxas info *: //'
  if grep -A1 "properties for grouped_gemv" "$tmp/ptxas.txt" | grep -q -E '[1-9][0-9]* bytes spill'; then
    echo "grouped gemv: local-memory spills" >&2
    exit 1
  fi
else
  echo "nvcc not found: registers not checked"
fi
python3 "$SRC/extract_grouped_gemv.py" "$KERNELS" "$tmp/grouped_gemv_kernel.h"
g++ -std=c++20 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -pthread -I "$SRC" \
    -I src/test/cuda/flash -I "$tmp" -o "$tmp/check" "$SRC/grouped_gemv_check.cpp"
"$tmp/check"
