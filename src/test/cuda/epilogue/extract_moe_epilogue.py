# The MoE epilogue kernels' source out of kernels.cu for the CPU check (scripts/check-moe-epilogue.sh): bf16_t, quad,
# WARP, warp_sum_d, expert_element, FUSED_NORM_SLOTS and the epilogue section (from its comment to the turns kernel:
# the shared steps, moe_epilogue_of and moe_epilogue_vector_of with their entry points), unchanged.
# Usage: extract_moe_epilogue.py kernels.cu out.h
import re, sys
src = open(sys.argv[1]).read()
def one(pattern):
    m = re.search(pattern, src, re.S)
    if m is None:
        sys.exit("extract_moe_epilogue.py: " + sys.argv[1] + " lacks " + pattern)
    return m.group(0)
out = [one(r"typedef unsigned short bf16_t;\n"), one(r"struct alignas\(16\) quad \{[^\n]*\n"), one(r"#define WARP 32\n"),
       one(r"__device__ __forceinline__ double warp_sum_d\(double v\) \{.*?\n\}\n"),
       one(r"__device__ __forceinline__ float expert_element\(const float\* rows, long long i\) \{.*?\n\}\n"),
       one(r"__device__ __forceinline__ float expert_element\(const bf16_t\* rows, long long i\) \{.*?\n\}\n"),
       one(r"#define FUSED_NORM_SLOTS [0-9]+\n"),
       one(r"// The MoE block's epilogue in one read.*?(?=// One warp per token: 1 - cos)")]
open(sys.argv[2], "w").write("\n".join(out))
