#!/usr/bin/env bash
# The MoE epilogue kernels (kernels.cu's moe_epilogue_of and moe_epilogue_vector_of, -Dmoeprune.epilogueKernel)
# checked without a GPU: nvcc's registers and spills for sm_90 (ARCH overrides; skipped without nvcc; a spill fails
# the check), then the kernels' own source run on the CPU by the warp emulator of src/test/cuda/flash under the address
# and undefined-behaviour sanitizers against HostOps's unfused sequence (src/test/cuda/epilogue/moe_epilogue_check.cpp:
# x bit for bit, the finite flag exact, norms and turns within 1e-6). Needs g++ (C++20) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
KERNELS=src/main/resources/io/moeprune/gpu/kernels.cu
SRC=src/test/cuda/epilogue
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v nvcc >/dev/null; then
  nvcc -arch="${ARCH:-sm_90}" -cubin -Xptxas -v -o "$tmp/kernels.cubin" "$KERNELS" 2>"$tmp/ptxas.txt"
  grep -A2 "properties for moe_epilogue" "$tmp/ptxas.txt" | grep -v '^--' | sed 's/^ptxas info *: //'
  if grep -A1 "properties for moe_epilogue" "$tmp/ptxas.txt" | grep -q -E '[1-9][0-9]* bytes spill'; then
    echo "MoE epilogue: local-memory spills" >&2
    exit 1
  fi
else
  echo "nvcc not found: registers not checked"
fi
python3 "$SRC/extract_moe_epilogue.py" "$KERNELS" "$tmp/moe_epilogue_kernel.h"
g++ -std=c++20 -O1 -g -ffp-contract=off -fno-strict-aliasing -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined \
  -pthread -I src/test/cuda/flash -I "$SRC" -I "$tmp" -o "$tmp/check" "$SRC/moe_epilogue_check.cpp"
"$tmp/check"
