# The grouped small-row products (kernels.cu's grouped_gemv section) out of kernels.cu for the CPU check
# (scripts/check-grouped-gemv.sh): to_bf16, warp_sum and the section, its dynamic shared memory (gemv_dynamic_shared)
# swapped for the check's buffer of exactly the launch's size. Usage: extract_grouped_gemv.py kernels.cu out.h
import re, sys
src = open(sys.argv[1]).read()
out = ["typedef unsigned short bf16_t;\n#define WARP 32\n"]
for pattern in [r"__device__ __forceinline__ bf16_t to_bf16\(float f\) \{.*?\n\}\n",
                r"__device__ __forceinline__ float warp_sum\(float v\) \{.*?\n\}\n"]:
    out.append(re.search(pattern, src, re.S).group(0))
start = src.index("// ---- the experts' products for few rows an expert")
end = src.index("// ---- end of the experts' products for few rows an expert")
sec = src[start:end]
shared = re.search(r"__device__ __forceinline__ unsigned char\* gemv_dynamic_shared\(\) \{.*?\n\}\n", sec, re.S)
sec = sec.replace(shared.group(0), "__device__ __forceinline__ unsigned char* gemv_dynamic_shared() {\n"
                  "    return gemvShared;   // the check's buffer: the launch's dynamic shared bytes, exactly\n}\n")
out.append("static unsigned char* gemvShared;\n")
out.append(sec)
open(sys.argv[2], "w").write("".join(out))
