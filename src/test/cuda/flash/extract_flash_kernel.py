# The flash attention kernel's source out of kernels.cu for the CPU check (scripts/check-flash-attention.sh): to_bf16,
# NEG_INF and the flash section, its PTX helpers (fa_pack, fa_mma, fa_shared_address, fa_ldmatrix4, and the bf16kv
# variant's fa_dynamic_shared, fa_cp_async16, fa_cp_async_commit, fa_cp_async_wait) swapped for emulated_ptx.h. Usage: extract_flash_kernel.py kernels.cu out.h
import re, sys
src = open(sys.argv[1]).read()
out = []
out.append("typedef unsigned short bf16_t;\n#define WARP 32\n")
m = re.search(r"__device__ __forceinline__ bf16_t to_bf16\(float f\) \{.*?\n\}\n", src, re.S)
out.append(m.group(0))
out.append(re.search(r"#define NEG_INF .*\n", src).group(0))
sec = src[src.index("// ---- prefill attention, fused on tensor cores"):]
def cut(sec, start):
    i = sec.index(start)
    i = sec.rindex("\n", 0, i) + 1
    j = sec.index("\n}\n", i) + 3
    return sec[:i] + sec[j:]
for start in ["__device__ __forceinline__ unsigned int fa_pack(", "__device__ __forceinline__ void fa_mma(",
              "__device__ __forceinline__ unsigned int fa_shared_address(", "template <bool TRANS>",
              "__device__ __forceinline__ unsigned char* fa_dynamic_shared(",
              "__device__ __forceinline__ void fa_cp_async16(", "__device__ __forceinline__ void fa_cp_async_commit(",
              "template <int PENDING>"]:
    sec = cut(sec, start)
sec = sec.replace("struct alignas(8) fa_bf16x4 { unsigned int lo, hi; };",
                  "struct alignas(8) fa_bf16x4 { unsigned int lo, hi; };\n#include \"emulated_ptx.h\"")
out.append(sec)
open(sys.argv[2], "w").write("".join(out))
