#!/usr/bin/env bash
# Rebuilds the AMX kernel's machine code (src/main/native/amx_bf16.c) into the resource the runtime maps and calls:
# src/main/resources/io/moeprune/kernels/amx_bf16.bin. Needs gcc ≥ 11 (AMX intrinsics) and binutils; the build
# itself does not run this (the blob is committed), so a machine with only a JDK still builds moeprune.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$here/src/main/native/amx_bf16.c"
out="$here/src/main/resources/io/moeprune/kernels/amx_bf16.bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -mamx-tile -mamx-bf16 -fPIC -fno-asynchronous-unwind-tables -fno-stack-protector -fcf-protection=none \
  -ffreestanding -fno-builtin -nostdlib -c "$src" -o "$tmp/amx.o"
# The blob is the bare .text: it must hold the only function, at offset 0, and refer to nothing outside itself.
if [ -n "$(objdump -r "$tmp/amx.o" | grep -E '^[0-9a-f]{16} ')" ]; then echo "amx_bf16.o has relocations" >&2; exit 1; fi
if objdump -h "$tmp/amx.o" | awk '$2 ~ /^\.(data|rodata|bss)/ && $3 != "00000000" {bad=1} END {exit !bad}'; then
  echo "amx_bf16.o has data sections" >&2; exit 1
fi
[ "$(nm "$tmp/amx.o" | awk '$2 == "T"')" = "0000000000000000 T moeprune_amx_bf16" ] || { echo "entry not at offset 0" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
objcopy -O binary --only-section=.text "$tmp/amx.o" "$out"
echo "$out: $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-16)"
