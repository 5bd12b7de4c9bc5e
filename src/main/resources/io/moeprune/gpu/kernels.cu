// The small kernels of the GPU runtime (io.moeprune.gpu.ops.CudaOps): each implements one DeviceOps operation and
// must match HostOps, its Java reference. Compiled at run time by NVRTC: no #include, BF16 as unsigned short bits
// converted by hand, FP8/FP4 decoded by hand, precise math only. Element-wise arithmetic that HostOps does in float
// uses the _rn intrinsics so the compiler cannot contract it into an FMA (Java never does): those ops are bit-exact.

typedef unsigned short bf16_t;

// 16 bytes moved as one access (no vector_types.h under NVRTC: alignas is plain C++).
struct alignas(16) quad { float v[4]; };
typedef unsigned char u8;

#define WARP 32

// Round to nearest even, NaN stays NaN (HostOps.toBf16Bits).
__device__ __forceinline__ bf16_t to_bf16(float f) {
    unsigned int bits = __float_as_uint(f);
    if (f != f) return (bf16_t) ((bits >> 16) | 0x40);
    return (bf16_t) ((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// FP8 E4M3 "FN" (safetensors/Fp8): only S.1111.111 is NaN; exponent bias 7; subnormals man/8 · 2^-6.
__device__ __forceinline__ float e4m3(u8 b) {
    unsigned int exp = (b >> 3) & 0xF, man = b & 0x7;
    float v;
    if (exp == 0xF && man == 0x7) v = __uint_as_float(0x7FC00000u);
    else if (exp == 0) v = (float) man * 0.001953125f;                       // man · 2^-9, exact
    else v = __uint_as_float(((exp + 120u) << 23) | (man << 20));            // (1 + man/8) · 2^(exp-7)
    return (b & 0x80) ? -v : v;
}

// E2M1 by nibble (safetensors/Fp4).
__device__ __forceinline__ float e2m1(unsigned int nibble) {
    const float mag[8] = {0.f, 0.5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f};
    float v = mag[nibble & 7];
    return (nibble & 8) ? -v : v;
}

// E8M0: 2^(e-127), exact; 0 is the subnormal 2^-127, 0xFF reads +infinity (as Math.scalb(1f, 128)).
__device__ __forceinline__ float e8m0(u8 e) {
    return e == 0 ? __uint_as_float(0x00400000u) : __uint_as_float(((unsigned int) e) << 23);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

#define GRID_STRIDE(i, n) for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                               i += (long long) gridDim.x * blockDim.x)

// ---- conversions ----------------------------------------------------------------------------------------------

extern "C" __global__ void to_bf16_kernel(const float* src, bf16_t* dst, long long count) {
    GRID_STRIDE(i, count) dst[i] = to_bf16(src[i]);
}

// BF16 bits to F32: exact (the grouped products' BF16 outputs widened for the F32 activations).
extern "C" __global__ void from_bf16_kernel(const bf16_t* src, float* dst, long long count) {
    GRID_STRIDE(i, count) dst[i] = __uint_as_float(((unsigned int) src[i]) << 16);
}

extern "C" __global__ void dequant_fp8_blocks(const u8* src, const float* scales, bf16_t* dst, int rows, int cols,
                                              int block) {
    long long total = (long long) rows * cols;
    int scaleCols = (cols + block - 1) / block;
    GRID_STRIDE(i, total) {
        int r = (int) (i / cols), c = (int) (i % cols);
        float s = scales[(long long) (r / block) * scaleCols + c / block];
        dst[i] = to_bf16(__fmul_rn(e4m3(src[i]), s));
    }
}

// One thread per byte of blocks: two values, low nibble first.
extern "C" __global__ void dequant_mxfp4(const u8* blocks, const u8* scales, bf16_t* dst, int rows, int cols) {
    long long bytes = (long long) rows * cols / 2;
    GRID_STRIDE(i, bytes) {
        long long group = i / 16;                       // (row, group) flattened: scales are [rows, cols/32]
        float s = e8m0(scales[group]);
        unsigned int b = blocks[i];
        dst[2 * i] = to_bf16(__fmul_rn(e2m1(b & 0xF), s));
        dst[2 * i + 1] = to_bf16(__fmul_rn(e2m1(b >> 4), s));
    }
}

// ---- row-wise operations --------------------------------------------------------------------------------------

// 1/sqrt(mean(s²) + eps) of one row, by one warp (every lane gets it).
__device__ float rms_inverse(const float* s, int width, float eps, int lane) {
    float ss = 0.f;
    for (int i = lane; i < width; i += WARP) {
        float v = s[i];
        ss += v * v;
    }
    ss = warp_sum(ss);
    return (float) (1.0 / sqrt((double) (__fadd_rn(ss / (float) width, eps))));
}

// One row's RMSNorm by one warp: s and d may be the same row.
__device__ void rms_norm_row(const float* s, float* d, int width, const float* weight, float eps, int lane) {
    float inv = rms_inverse(s, width, eps, lane);
    for (int i = lane; i < width; i += WARP) d[i] = __fmul_rn(weight[i], __fmul_rn(s[i], inv));
}

// One warp per row (rows are heads of 64..256 or hidden states of 2048..7168: a warp keeps the reduction cheap).
extern "C" __global__ void rms_norm(const float* src, float* dst, int rows, int width, int stride,
                                    const float* weight, float eps) {
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= rows) return;
    rms_norm_row(src + (long long) row * stride, dst + (long long) row * stride, width, weight, eps, lane);
}

// rms_norm then to_bf16_kernel in one pass over contiguous rows: the BF16 rows the products read, and the F32 rows
// too unless dstF32 is null (the router reads them; the attention's products do not).
extern "C" __global__ void rms_norm_bf16(const float* src, float* dstF32, bf16_t* dstBf16, int rows, int width,
                                         const float* weight, float eps) {
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= rows) return;
    long long base = (long long) row * width;
    const float* s = src + base;
    float inv = rms_inverse(s, width, eps, lane);
    for (int i = lane; i < width; i += WARP) {
        float v = __fmul_rn(weight[i], __fmul_rn(s[i], inv));
        if (dstF32 != nullptr) dstF32[base + i] = v;
        dstBf16[base + i] = to_bf16(v);
    }
}

// Per-head norms in place (Qwen3's q/k norms): one warp per (row, head), heads of a row side by side, one launch
// for all heads instead of one rms_norm launch per head.
extern "C" __global__ void rms_norm_heads(float* x, int rows, int heads, int headDim, int rowStride,
                                          const float* weight, float eps) {
    int unit = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (unit >= rows * heads) return;
    float* h = x + (long long) (unit / heads) * rowStride + (long long) (unit % heads) * headDim;
    rms_norm_row(h, h, headDim, weight, eps, lane);
}

// Rotates pair i (of rotaryDim / 2 = half) of one head, from its first rotated element p, by position pos: the
// arithmetic of HostOps.rope (rope and rms_norm_heads_rope share it, so the two give the same bits).
__device__ __forceinline__ void rope_pair(float* p, int i, int half, int pos, const float* invFreq,
                                          float attentionScale, int interleaved) {
    float angle = __fmul_rn((float) pos, invFreq[i]);
    float c = __fmul_rn((float) cos((double) angle), attentionScale);
    float s = __fmul_rn((float) sin((double) angle), attentionScale);
    int ia = interleaved ? 2 * i : i, ib = interleaved ? ia + 1 : half + i;
    float a = p[ia], b = p[ib];
    p[ia] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    p[ib] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

// One thread per rotated pair (t, h, i).
extern "C" __global__ void rope(float* x, int rows, int rowStride, int heads, int headDim, int ropeOffset,
                                int rotaryDim, const int* positions, const float* invFreq, float attentionScale,
                                int interleaved) {
    int half = rotaryDim / 2;
    long long total = (long long) rows * heads * half;
    GRID_STRIDE(p, total) {
        int i = (int) (p % half);
        long long th = p / half;
        int h = (int) (th % heads), t = (int) (th / heads);
        rope_pair(x + (long long) t * rowStride + (long long) h * headDim + ropeOffset, i, half, positions[t], invFreq,
                  attentionScale, interleaved);
    }
}

// rms_norm_heads then rope (from each head's first element) in one pass: one warp per (row, head) normalises the
// head in place, then, after __syncwarp (the warp's own stores visible to it), rotates its pairs; the same float
// operations in the same order as the two kernels, so the same bits. Qwen3's q and k heads.
extern "C" __global__ void rms_norm_heads_rope(float* x, int rows, int heads, int headDim, int rowStride,
                                               const float* weight, float eps, const int* positions,
                                               const float* invFreq, int rotaryDim, float attentionScale,
                                               int interleaved) {
    int unit = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (unit >= rows * heads) return;
    int t = unit / heads, half = rotaryDim / 2;
    float* h = x + (long long) t * rowStride + (long long) (unit % heads) * headDim;
    rms_norm_row(h, h, headDim, weight, eps, lane);
    __syncwarp();
    int pos = positions[t];
    for (int i = lane; i < half; i += WARP) rope_pair(h, i, half, pos, invFreq, attentionScale, interleaved);
}

// Causal attention, one warp per (query token, head); the warps of a block are consecutive heads of one token, so
// heads sharing a kv head (GQA) read its keys through L1 together. Keys go by in chunks of 32: lane j scores key j of
// the chunk against the query (kept in shared memory), then an online softmax folds the chunk in; each lane owns
// vDim/32 elements of the output. No shared memory grows with the sequence, so any length works.
#define ATT_WARPS 4
#define ATT_MAX_DIM 256
#define ATT_PER_LANE (ATT_MAX_DIM / WARP)

// One warp attends one query row to keys [first, last] (rows kStride/vStride apart from kbase/vbase): lane j scores
// key j of each chunk of 32 against the query (in this warp's shared row qs), an online softmax folds the chunk in,
// each lane owns vDim/32 elements of the output; sink (or null) adds exp(*sink) to the denominator.
__device__ __forceinline__ void attend_row(const float* qrow, float* qs, const float* kbase, int kStride,
                                           const float* vbase, int vStride, int first, int last, int qkDim, int vDim,
                                           float scale, const float* sink, float* orow) {
    int lane = threadIdx.x % WARP;
    for (int d = lane; d < qkDim; d += WARP) qs[d] = qrow[d];
    __syncwarp();
    float m = __int_as_float(0xFF800000), l = 0.f;    // -infinity
    float acc[ATT_PER_LANE];
#pragma unroll
    for (int e = 0; e < ATT_PER_LANE; e++) acc[e] = 0.f;
    for (int j0 = first; j0 <= last; j0 += WARP) {
        int j = j0 + lane;
        float score = __int_as_float(0xFF800000);
        if (j <= last) {
            const float* krow = kbase + (long long) j * kStride;
            float dot = 0.f;
            for (int d = 0; d < qkDim; d++) dot = fmaf(qs[d], krow[d], dot);
            score = dot * scale;
        }
        float cmax = score;
        for (int o = WARP / 2; o > 0; o >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xFFFFFFFFu, cmax, o));
        float mNew = fmaxf(m, cmax);
        float correction = expf(m - mNew);               // m = -inf the first time: 0
        float p = j <= last ? expf(score - mNew) : 0.f;
        l = l * correction + warp_sum(p);
#pragma unroll
        for (int e = 0; e < ATT_PER_LANE; e++) acc[e] *= correction;
        int n = last - j0 + 1 < WARP ? last - j0 + 1 : WARP;
        for (int jj = 0; jj < n; jj++) {
            float pj = __shfl_sync(0xFFFFFFFFu, p, jj);
            const float* vrow = vbase + (long long) (j0 + jj) * vStride;
#pragma unroll
            for (int e = 0; e < ATT_PER_LANE; e++) {
                int d = lane + e * WARP;
                if (d < vDim) acc[e] = fmaf(pj, vrow[d], acc[e]);
            }
        }
        m = mNew;
    }
    if (sink != 0) {
        float mNew = fmaxf(m, *sink), correction = expf(m - mNew);
        l = l * correction + expf(*sink - mNew);
#pragma unroll
        for (int e = 0; e < ATT_PER_LANE; e++) acc[e] *= correction;
    }
    float inv = 1.f / l;
#pragma unroll
    for (int e = 0; e < ATT_PER_LANE; e++) {
        int d = lane + e * WARP;
        if (d < vDim) orow[d] = acc[e] * inv;
    }
}

extern "C" __global__ void attention(const float* q, int qStride, const float* k, int kStride, const float* v,
                                     int vStride, float* out, const int* starts, int sequences, int tokens, int heads,
                                     int kvHeads, int qkDim, int vDim, float scale, int window, const float* sinks) {
    __shared__ float qs[ATT_WARPS][ATT_MAX_DIM];
    int t = blockIdx.x, warp = threadIdx.x / WARP;
    int h = blockIdx.y * ATT_WARPS + warp;
    if (t >= tokens || h >= heads) return;
    // The sequence of token t (binary search of starts).
    int lo = 0, hi = sequences;                          // starts[lo] <= t < starts[hi]
    if (t < starts[0] || t >= starts[sequences]) return;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (starts[mid] <= t) lo = mid; else hi = mid;
    }
    int from = starts[lo];
    int first = window > 0 && t - window + 1 > from ? t - window + 1 : from;
    int kh = h / (heads / kvHeads);
    attend_row(q + (long long) t * qStride + (long long) h * qkDim, qs[warp], k + (long long) kh * qkDim, kStride,
               v + (long long) kh * vDim, vStride, first, t, qkDim, vDim, scale, sinks == 0 ? 0 : sinks + h,
               out + ((long long) t * heads + h) * vDim);
}

// Queries of one sequence at positions past + i against its key/value cache (contiguous rows of kvHeads heads):
// grid (n, heads / ATT_WARPS), one warp per (query, head), as attention.
extern "C" __global__ void cached_attention(const float* q, int qStride, const float* kCache, const float* vCache,
                                            float* out, int past, int n, int heads, int kvHeads, int qkDim, int vDim,
                                            float scale, int window, const float* sinks) {
    __shared__ float qs[ATT_WARPS][ATT_MAX_DIM];
    int i = blockIdx.x, warp = threadIdx.x / WARP;
    int h = blockIdx.y * ATT_WARPS + warp;
    if (i >= n || h >= heads) return;
    int t = past + i;
    int first = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
    int kh = h / (heads / kvHeads);
    attend_row(q + (long long) i * qStride + (long long) h * qkDim, qs[warp], kCache + (long long) kh * qkDim,
               kvHeads * qkDim, vCache + (long long) kh * vDim, kvHeads * vDim, first, t, qkDim, vDim, scale,
               sinks == 0 ? 0 : sinks + h, out + ((long long) i * heads + h) * vDim);
}

// A batched decode step: row s of k and v into row positions[s] of sequence s's caches (caches[2s], caches[2s+1]).
extern "C" __global__ void append_kv(const float* k, int kStride, const float* v, int vStride,
                                     const unsigned long long* caches, const int* positions, int n, int kWidth,
                                     int vWidth) {
    long long total = (long long) n * (kWidth + vWidth);
    GRID_STRIDE(p, total) {
        int s = (int) (p / (kWidth + vWidth)), c = (int) (p % (kWidth + vWidth));
        long long row = positions[s];
        if (c < kWidth) ((float*) caches[2 * s])[row * kWidth + c] = k[(long long) s * kStride + c];
        else ((float*) caches[2 * s + 1])[row * vWidth + c - kWidth] = v[(long long) s * vStride + c - kWidth];
    }
}

// Then query row s attends to its sequence's cache up to positions[s]: grid (n, heads / ATT_WARPS), as attention.
extern "C" __global__ void batched_cached_attention(const float* q, int qStride, const unsigned long long* caches,
                                                    const int* positions, float* out, int n, int heads, int kvHeads,
                                                    int qkDim, int vDim, float scale, int window, const float* sinks) {
    __shared__ float qs[ATT_WARPS][ATT_MAX_DIM];
    int s = blockIdx.x, warp = threadIdx.x / WARP;
    int h = blockIdx.y * ATT_WARPS + warp;
    if (s >= n || h >= heads) return;
    int t = positions[s];
    int first = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
    int kh = h / (heads / kvHeads);
    const float* kCache = (const float*) caches[2 * s];
    const float* vCache = (const float*) caches[2 * s + 1];
    attend_row(q + (long long) s * qStride + (long long) h * qkDim, qs[warp], kCache + (long long) kh * qkDim,
               kvHeads * qkDim, vCache + (long long) kh * vDim, kvHeads * vDim, first, t, qkDim, vDim, scale,
               sinks == 0 ? 0 : sinks + h, out + ((long long) s * heads + h) * vDim);
}

// ---- prefill attention on tensor cores (CudaOps.tensorCoreAttention) -------------------------------------------

// dst_bf16 [rows, width] contiguous = src [rows, width] with rows srcStride apart: a sequence's q, k or v as the
// batched products' inputs.
extern "C" __global__ void to_bf16_rows(const float* src, int srcStride, bf16_t* dst, int rows, int width) {
    long long total = (long long) rows * width;
    GRID_STRIDE(p, total) {
        long long r = p / width;
        int c = (int) (p % width);
        dst[p] = to_bf16(src[r * srcStride + c]);
    }
}

// The causal softmax of scores S [batch][L][L] (already scaled) into P (BF16, same layout): row i of problem b keeps
// keys j <= i (and i - j < window when window > 0), zero elsewhere; sinks[headBase + b*headStep] (or none) joins the
// denominator. One block per (row, problem); a block reduction for the max and the sum.
extern "C" __global__ void causal_softmax(const float* S, bf16_t* P, int L, int window, const float* sinks,
                                          int headBase, int headStep) {
    __shared__ float red[32];
    int i = blockIdx.x, b = blockIdx.y, lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    int warps = blockDim.x / WARP;
    const float* s = S + ((long long) b * L + i) * L;
    bf16_t* p = P + ((long long) b * L + i) * L;
    int lo = window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
    float m = __int_as_float(0xFF800000);
    for (int j = lo + threadIdx.x; j <= i; j += blockDim.x) m = fmaxf(m, s[j]);
    for (int o = WARP / 2; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
    for (int w = 1; w < warps; w++) m = fmaxf(m, red[w]);
    float sink = sinks == 0 ? 0.f : sinks[headBase + b * headStep];
    if (sinks != 0) m = fmaxf(m, sink);
    __syncthreads();
    float sum = 0.f;
    for (int j = lo + threadIdx.x; j <= i; j += blockDim.x) sum += expf(s[j] - m);
    sum = warp_sum(sum);
    if (lane == 0) red[warp] = sum;
    __syncthreads();
    sum = 0.f;
    for (int w = 0; w < warps; w++) sum += red[w];
    if (sinks != 0) sum += expf(sink - m);
    float inv = 1.f / sum;
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        p[j] = j >= lo && j <= i ? to_bf16(expf(s[j] - m) * inv) : (bf16_t) 0;
    }
}

// act(g)·up' in double for the sigmoid (as HostOps), then float, then BF16.
// An expert row's element widened to F32: exact for BF16 (the _bf16 variants of the readers of the experts' rows:
// -Dmoeprune.expertOutputs=bf16).
__device__ __forceinline__ float expert_element(const float* rows, long long i) {
    return rows[i];
}

__device__ __forceinline__ float expert_element(const bf16_t* rows, long long i) {
    return __uint_as_float(((unsigned int) rows[i]) << 16);
}

__device__ __forceinline__ bf16_t gated_activation_element(float g, float u, float alpha, float limit, float upShift) {
    if (limit > 0.f) {
        g = fminf(g, limit);
        u = fmaxf(-limit, fminf(u, limit));
    }
    float act = (float) ((double) g / (1.0 + exp(-(double) alpha * (double) g)));
    return to_bf16(__fmul_rn(act, __fadd_rn(u, upShift)));
}

// Four BF16 values moved as one 8-byte access.
struct alignas(8) bf16x4 { bf16_t v[4]; };

__device__ __forceinline__ void load4(const float* p, float* out) {
    quad q = *reinterpret_cast<const quad*>(p);
    for (int c = 0; c < 4; c++) out[c] = q.v[c];
}

__device__ __forceinline__ void load4(const bf16_t* p, float* out) {
    bf16x4 q = *reinterpret_cast<const bf16x4*>(p);
    for (int c = 0; c < 4; c++) out[c] = __uint_as_float(((unsigned int) q.v[c]) << 16);
}

// One warp per token's [gate | up] row; four elements a lane at a time (16- or 8-byte accesses) when the width is a
// multiple of 4, else one. The same float operations per element as before (one thread an element with a 64-bit
// division each: ~1 TB/s on an H100, 2026-12-07).
template <typename T>
__device__ __forceinline__ void gated_activation_of(const T* gateUp, bf16_t* out, int n, int width, float alpha,
                                                    float limit, float upShift) {
    int t = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (t >= n) return;
    const T* gate = gateUp + (long long) t * 2 * width;
    const T* up = gate + width;
    bf16_t* o = out + (long long) t * width;
    // 4·sizeof(T) bytes a load: the rows' start must be that aligned (a whole buffer's is), and the output's 8.
    bool aligned = (((unsigned long long) gateUp) & (4 * sizeof(T) - 1)) == 0 && (((unsigned long long) out) & 7) == 0;
    if ((width & 3) == 0 && aligned) {
        for (int c = 4 * lane; c < width; c += 4 * WARP) {
            float g[4], u[4];
            load4(gate + c, g);
            load4(up + c, u);
            bf16x4 r;
            for (int j = 0; j < 4; j++) r.v[j] = gated_activation_element(g[j], u[j], alpha, limit, upShift);
            *reinterpret_cast<bf16x4*>(o + c) = r;
        }
    } else {
        for (int c = lane; c < width; c += WARP) {
            o[c] = gated_activation_element(expert_element(gate, c), expert_element(up, c), alpha, limit, upShift);
        }
    }
}

extern "C" __global__ void gated_activation(const float* gateUp, bf16_t* out, int n, int width, float alpha,
                                            float limit, float upShift) {
    gated_activation_of(gateUp, out, n, width, alpha, limit, upShift);
}

extern "C" __global__ void gated_activation_bf16(const bf16_t* gateUp, bf16_t* out, int n, int width, float alpha,
                                                 float limit, float upShift) {
    gated_activation_of(gateUp, out, n, width, alpha, limit, upShift);
}

extern "C" __global__ void add_scaled(float* x, const float* y, long long count, float m) {
    GRID_STRIDE(i, count) x[i] = m == 1.f ? __fadd_rn(x[i], y[i]) : __fadd_rn(x[i], __fmul_rn(m, y[i]));
}

extern "C" __global__ void add_bias(float* x, int rows, int width, int stride, const float* bias) {
    long long total = (long long) rows * width;
    GRID_STRIDE(p, total) {
        long long r = p / width;
        int i = (int) (p % width);
        x[r * stride + i] = __fadd_rn(x[r * stride + i], bias[i]);
    }
}

// OLMoE's clip_qkv: fminf/fmaxf as Math.min/max (NaN stays NaN: CUDA's fminf would drop it, so it is tested first).
extern "C" __global__ void clamp_rows(float* x, int rows, int width, int stride, float limit) {
    long long total = (long long) rows * width;
    GRID_STRIDE(p, total) {
        long long r = p / width;
        int i = (int) (p % width);
        float v = x[r * stride + i];
        if (v == v) x[r * stride + i] = fmaxf(-limit, fminf(limit, v));
    }
}

// The finite check: flags[slot] = max(flags[slot], 2(count - i) + isNaN) over the non-finite x[i] (0 stays 0 when
// all are finite): the largest flag is the first non-finite element.
extern "C" __global__ void non_finite(const float* x, long long count, int* flags, int slot) {
    GRID_STRIDE(i, count) {
        unsigned int bits = __float_as_uint(x[i]);
        if ((bits & 0x7F800000u) == 0x7F800000u) {
            atomicMax(flags + slot, (int) (2 * (count - i)) + ((bits & 0x007FFFFFu) != 0 ? 1 : 0));
        }
    }
}

extern "C" __global__ void sigmoid_gate_rows(float* x, int rows, int width, const float* gate) {
    long long total = (long long) rows * width;
    GRID_STRIDE(p, total) {
        long long r = p / width;
        float s = (float) (1.0 / (1.0 + exp(-(double) gate[r])));
        x[p] = __fmul_rn(x[p], s);
    }
}

extern "C" __global__ void copy_2d(const float* src, int srcStride, int srcCol, float* dst, int dstStride, int dstCol,
                                   int rows, int cols, int srcRowDivisor) {
    long long total = (long long) rows * cols;
    GRID_STRIDE(p, total) {
        int r = (int) (p / cols), c = (int) (p % cols);
        dst[(long long) r * dstStride + dstCol + c] = src[(long long) (r / srcRowDivisor) * srcStride + srcCol + c];
    }
}

// ---- embeddings (CudaOps.embedRows; runtime.Model.embed on the host) --------------------------------------------

// dst[i, :] = table[ids[i], :] (BF16 widened exactly, or F32) times the multiplier, unfused as Java's: bit-exact.
// One block per row (grid-stride over rows), its threads along the row.
extern "C" __global__ void embed_rows(const void* table, int bf16, const int* ids, int count, int width,
                                      float multiplier, float* dst) {
    for (int i = blockIdx.x; i < count; i += gridDim.x) {
        long long from = (long long) ids[i] * width;
        float* out = dst + (long long) i * width;
        for (int c = threadIdx.x; c < width; c += blockDim.x) {
            float v = bf16 ? __uint_as_float(((unsigned int) ((const bf16_t*) table)[from + c]) << 16)
                           : ((const float*) table)[from + c];
            out[c] = multiplier == 1.0f ? v : __fmul_rn(v, multiplier);
        }
    }
}

// ---- next-token scores (CudaOps.tokenScores; HostOps.tokenScores in the CPU's arithmetic) ------------------------

// The block's reduction of each thread's (largest logit, its lowest index, finite flag): the larger logit, the lower
// index on equal ones (the CPU's strict-> scan), the larger flag (the first non-finite element). Ends with the result
// in every thread.
__device__ __forceinline__ void block_argmax(float& m, int& best, int& flag, float* ms, int* bests, int* flags) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    for (int o = WARP / 2; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(0xFFFFFFFFu, m, o);
        int ob = __shfl_xor_sync(0xFFFFFFFFu, best, o), of = __shfl_xor_sync(0xFFFFFFFFu, flag, o);
        if (om > m || (om == m && ob < best)) {
            m = om;
            best = ob;
        }
        flag = flag > of ? flag : of;
    }
    if (lane == 0) {
        ms[warp] = m;
        bests[warp] = best;
        flags[warp] = flag;
    }
    __syncthreads();
    m = ms[0];
    best = bests[0];
    flag = flags[0];
    for (int w = 1; w < warps; w++) {
        if (ms[w] > m || (ms[w] == m && bests[w] < best)) {
            m = ms[w];
            best = bests[w];
        }
        flag = flag > flags[w] ? flag : flags[w];
    }
}

// One entry of a thread's scan of a row, its indices rising: a non-finite l raises the flag to
// 2·(vocab − i) + (NaN ? 1 : 0) (the largest flag is the row's first non-finite entry), a finite one larger than m
// becomes the thread's largest (strict >: its first largest, the CPU's argmax). True when l is finite.
__device__ __forceinline__ bool argmax_entry(float l, int i, int vocab, float& m, int& best, int& flag) {
    unsigned int bits = __float_as_uint(l);
    if ((bits & 0x7F800000u) == 0x7F800000u) {
        int f = 2 * (vocab - i) + ((bits & 0x007FFFFFu) != 0 ? 1 : 0);
        if (f > flag) flag = f;
        return false;
    }
    if (l > m) {
        m = l;
        best = i;
    }
    return true;
}

// This thread's share of row {@code row} of {@code logits}, each entry (divided by the divisor in float, __fdiv_rn as
// Java, where divide) handed to entry(l, i) in rising i: 16 bytes at a time (quad) when the vocabulary is a multiple
// of 4 and the logits 16-byte aligned (every row then is), else a float at a time. A 600 KB row of a 151,936-entry
// vocabulary is read once from HBM.
template <typename Entry>
__device__ __forceinline__ void scan_row(const float* logits, const float* row, int vocab, bool divide, float divisor,
                                         Entry entry) {
    if ((vocab & 3) == 0 && ((unsigned long long) logits & 15) == 0) {
        const quad* row4 = reinterpret_cast<const quad*>(row);
        for (int j = threadIdx.x; j < vocab / 4; j += blockDim.x) {
            quad q = row4[j];
            for (int c = 0; c < 4; c++) entry(divide ? __fdiv_rn(q.v[c], divisor) : q.v[c], 4 * j + c);
        }
    } else {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) entry(divide ? __fdiv_rn(row[i], divisor) : row[i], i);
    }
}

// One block per row of logits: pass 1 finds the largest logit (lowest index on ties) and the first non-finite one;
// pass 2, only for a finite row with a target, sums exp(l - m) in double (as the CPU: the NLL agrees to ~1e-15 before
// it is stored as F32, the order of the sum being the only difference). Logits are divided by the divisor in float
// (__fdiv_rn: IEEE, as Java), in both passes alike.
// The end of both token-score kernels: the block's sum of exp(l − m) (each thread's share in {@code sum}, a slot a
// warp in {@code sums}) in double, then thread 0 writes row r's loss, hit and a clear flag.
__device__ __forceinline__ void token_score(double sum, double* sums, const float* row, int r, int target, float m,
                                            int best, bool divide, float divisor, float* nll, int* hits, int* flags) {
    sum = warp_sum_d(sum);
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    if (lane == 0) sums[warp] = sum;
    __syncthreads();
    if (threadIdx.x != 0) return;
    sum = 0;
    for (int w = 0; w < (int) (blockDim.x / WARP); w++) sum += sums[w];
    float lt = divide ? __fdiv_rn(row[target], divisor) : row[target];
    nll[r] = (float) (log(sum) + (double) m - (double) lt);
    hits[r] = best == target ? 1 : 0;
    flags[r] = 0;
}

extern "C" __global__ void token_scores(const float* logits, int rows, int vocab, const int* targets, float divisor,
                                        float* nll, int* hits, int* flags) {
    __shared__ float ms[32];
    __shared__ int bests[32], flagsSeen[32];
    __shared__ double sums[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = logits + (long long) r * vocab;
    bool divide = divisor != 1.f && divisor != 0.f;
    float m = __int_as_float(0xFF800000);                // -infinity
    int best = vocab, flag = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        argmax_entry(divide ? __fdiv_rn(row[i], divisor) : row[i], i, vocab, m, best, flag);
    }
    block_argmax(m, best, flag, ms, bests, flagsSeen);
    int target = targets[r];
    if (flag != 0 || target < 0) {
        if (threadIdx.x == 0) {
            nll[r] = 0.f;
            hits[r] = 0;
            flags[r] = flag;
        }
        return;
    }
    double sum = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float l = divide ? __fdiv_rn(row[i], divisor) : row[i];
        sum += exp((double) l - (double) m);
    }
    token_score(sum, sums, row, r, target, m, best, divide, divisor, nll, hits, flags);
}

// -Dmoeprune.tokenScores=one-pass: token_scores in one read of the row (its two passes read a 600 KB row of a
// 151,936-entry vocabulary twice from HBM: a row is evicted from L2 by the other blocks' rows before its second pass)
// and a float exp per entry instead of a double one. Each thread keeps its own running largest logit m_t and its sum
// s_t = sum exp(l - m_t) in double, rescaled by exp(m_old - m_new) (double) when m_t rises (about ln(entries) times);
// a term is expf((float)((double) l - m_t)), within 2 ulp of the double exp's F32 rounding. The block then combines
// S = sum_t s_t * exp(m_t - M) in double. Rows of a vocabulary that is a multiple of 4 (16-byte aligned) are read 16
// bytes at a time (quad; a thread's indices still rise, so the argmax and the first non-finite entry are found as by
// token_scores). The NLL agrees with token_scores' (and the CPU's) within a few F32 ulps of the result.

__device__ __forceinline__ void one_pass_entry(float l, int i, int vocab, float& m, int& best, int& flag, double& s) {
    float before = m;
    if (!argmax_entry(l, i, vocab, m, best, flag)) return;
    if (m != before) {
        s = s * exp((double) before - (double) l) + 1.0;  // s was 0 while m was -infinity: exp(-inf) = 0
    } else {
        s += (double) expf((float) ((double) l - (double) m));
    }
}

extern "C" __global__ void token_scores_one_pass(const float* logits, int rows, int vocab, const int* targets,
                                                 float divisor, float* nll, int* hits, int* flags) {
    __shared__ float ms[32];
    __shared__ int bests[32], flagsSeen[32];
    __shared__ double sums[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = logits + (long long) r * vocab;
    bool divide = divisor != 1.f && divisor != 0.f;
    float m = __int_as_float(0xFF800000);                // -infinity
    int best = vocab, flag = 0;
    double s = 0;
    scan_row(logits, row, vocab, divide, divisor,
             [&](float l, int i) { one_pass_entry(l, i, vocab, m, best, flag, s); });
    float mine = m;                                      // this thread's largest, before the block's argmax
    block_argmax(m, best, flag, ms, bests, flagsSeen);
    int target = targets[r];
    if (flag != 0 || target < 0) {
        if (threadIdx.x == 0) {
            nll[r] = 0.f;
            hits[r] = 0;
            flags[r] = flag;
        }
        return;
    }
    double sum = mine == __int_as_float(0xFF800000) ? 0.0 : s * exp((double) mine - (double) m);
    token_score(sum, sums, row, r, target, m, best, divide, divisor, nll, hits, flags);
}

// ---- greedy next tokens (CudaOps.greedyTokens; HostOps.greedyTokens: Sampler.argmax) -----------------------------
// One block per row of logits: the row's argmax (its lowest index on equal largest values) and finite flag as
// token_scores' first pass finds them, in one 16-byte read of the row (scan_row); ids[r] = -1 for a non-finite row.
// A decode step then downloads rows × 8 bytes instead of rows × vocab × 4 (19.4 MB for 32 rows of 151,936).
extern "C" __global__ void greedy_tokens(const float* logits, int rows, int vocab, float divisor, int* ids,
                                         int* flags) {
    __shared__ float ms[32];
    __shared__ int bests[32], flagsSeen[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = logits + (long long) r * vocab;
    float m = __int_as_float(0xFF800000);                // -infinity
    int best = vocab, flag = 0;
    scan_row(logits, row, vocab, divisor != 1.f && divisor != 0.f, divisor,
             [&](float l, int i) { argmax_entry(l, i, vocab, m, best, flag); });
    block_argmax(m, best, flag, ms, bests, flagsSeen);
    if (threadIdx.x == 0) {
        ids[r] = flag != 0 ? -1 : best;
        flags[r] = flag;
    }
}

// ---- the MoE block --------------------------------------------------------------------------------------------

extern "C" __global__ void gather_rows(const float* src, const int* index, bf16_t* dst, int count, int width) {
    long long total = (long long) count * width;
    GRID_STRIDE(p, total) {
        long long i = p / width;
        int c = (int) (p % width);
        dst[p] = to_bf16(src[(long long) index[i] * width + c]);
    }
}

// The experts' inputs copied from the normalised BF16 rows (exact): a gathered row per warp, 16 bytes at a time when
// the width is a multiple of 8 (every row then 16-byte aligned), else 2. gather_rows above reads F32 and rounds: one
// thread an element with a 64-bit division each, ~0.8 TB/s on an H100 (846 µs a 1.9 B layer, 2026-12-07).
extern "C" __global__ void gather_rows_bf16(const bf16_t* src, const int* index, bf16_t* dst, int count, int width) {
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (row >= count) return;
    const bf16_t* s = src + (long long) index[row] * width;
    bf16_t* d = dst + (long long) row * width;
    if ((width & 7) == 0 && ((((unsigned long long) src) | ((unsigned long long) dst)) & 15) == 0) {
        const quad* s4 = reinterpret_cast<const quad*>(s);
        quad* d4 = reinterpret_cast<quad*>(d);
        for (int c = lane; c < width / 8; c += WARP) d4[c] = s4[c];
    } else {
        for (int c = lane; c < width; c += WARP) d[c] = s[c];
    }
}

// The batched experts' products' live rows out of their padded scratch (CudaOps.groupedLinear, BatchedLayout):
// copy c = first + blockIdx.y moves table[2*copies + c] rows from scratch row table[c] to the address
// table[copies + c]; rows of width elements of T (F32, or BF16 with -Dmoeprune.expertOutputs=bf16). One launch for
// all the problems; 16 bytes at a time when aligned.

template <typename T>
__device__ __forceinline__ void copy_rows_out_of(const T* scratch, const long long* table, int copies, int first,
                                                 int width) {
    const int per_quad = 16 / sizeof(T);
    int c = first + blockIdx.y;
    if (c >= copies) return;
    const T* src = scratch + table[c] * (long long) width;
    T* dst = (T*) table[copies + c];
    long long n = table[2 * copies + c] * (long long) width;
    if (width % per_quad == 0 && ((unsigned long long) dst & 15) == 0 && ((unsigned long long) src & 15) == 0) {
        const quad* s4 = (const quad*) src;
        quad* d4 = (quad*) dst;
        GRID_STRIDE(i, n / per_quad) d4[i] = s4[i];
    } else {
        GRID_STRIDE(i, n) dst[i] = src[i];
    }
}

extern "C" __global__ void copy_rows_out(const float* scratch, const long long* table, int copies, int first,
                                         int width) {
    copy_rows_out_of(scratch, table, copies, first, width);
}

extern "C" __global__ void copy_rows_out_bf16(const bf16_t* scratch, const long long* table, int copies, int first,
                                              int width) {
    copy_rows_out_of(scratch, table, copies, first, width);
}

// ---- the experts' products for few rows an expert (decoding) ---------------------------------------------------
// CudaGroupedProducts's gemv path (-Dmoeprune.groupedPath=gemv): a decode step of 32 sequences routes ~2 rows to each
// of 128 experts, where cuBLAS's products are launch- and host-bound far from the weights' read time. One launch for
// every expert of the call, each with at most GEMV_MAX_ROWS rows. The table (device memory, 4 × problems longs, one
// array after the other): W [out, in] BF16 row-major, x [rows, in] BF16, y [rows, out] (F32, or BF16 rounded once from
// the F32 sum as cuBLAS rounds), rows. Block (blockIdx.x, first + blockIdx.y): that problem's output rows from
// GEMV_WARPS·GEMV_ROWS_PER_WARP·blockIdx.x, GEMV_ROWS_PER_WARP a warp; the expert's input rows staged in shared memory
// (dynamic: rows × min(in, GEMV_TILE) BF16) a tile of GEMV_TILE columns at a time; each lane reads its weight rows'
// columns VEC at a time (8: 16-byte loads, in a multiple of 8 and W, x 16-byte aligned; 1: the scalar path) once and
// multiplies them with each input row; F32 accumulation in column order per lane (a BF16 × BF16 product is exact in
// F32, so FMA or not gives the same bits), the lanes' sums added by warp_sum. The row count is a template constant
// (a block's problem has one count): the accumulators stay in registers. scripts/check-grouped-gemv.sh runs this
// section on the CPU (src/test/cuda/gemv).
#define GEMV_MAX_ROWS 8
#define GEMV_WARPS 8
#define GEMV_ROWS_PER_WARP 4
#define GEMV_TILE 2048

// Eight BF16 values moved as one 16-byte access: element 2i in the low half of v[i].
struct alignas(16) bf16x8 { unsigned int v[4]; };

__device__ __forceinline__ unsigned char* gemv_dynamic_shared() {
    extern __shared__ __align__(16) unsigned char gemv_smem[];
    return gemv_smem;
}

template <int VEC>
__device__ __forceinline__ void gemv_load(const bf16_t* p, float* f) {
    if (VEC == 8) {
        bf16x8 q = *reinterpret_cast<const bf16x8*>(p);
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(q.v[i] << 16);
            f[2 * i + 1] = __uint_as_float(q.v[i] & 0xFFFF0000u);
        }
    } else {
        f[0] = __uint_as_float(((unsigned int) *p) << 16);
    }
}

__device__ __forceinline__ void gemv_store(float* y, float v) {
    *y = v;
}

__device__ __forceinline__ void gemv_store(bf16_t* y, float v) {
    *y = to_bf16(v);
}

template <int R, int VEC, typename T>
__device__ __forceinline__ void grouped_gemv_rows(const bf16_t* w, const bf16_t* x, T* y, int out, int in) {
    bf16_t* xs = (bf16_t*) gemv_dynamic_shared();
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int first = (blockIdx.x * GEMV_WARPS + warp) * GEMV_ROWS_PER_WARP;
    bool live = first < out;   // a warp past the last row still stages its share of the inputs
    int width = in < GEMV_TILE ? in : GEMV_TILE;   // the shared rows' stride
    float acc[GEMV_ROWS_PER_WARP][R];
    const bf16_t* wr[GEMV_ROWS_PER_WARP];
    for (int j = 0; j < GEMV_ROWS_PER_WARP; j++) {
        for (int r = 0; r < R; r++) acc[j][r] = 0.f;
        // rows past out read the last row (in bounds) and are never written
        wr[j] = w + (long long) (first + j < out ? first + j : out - 1) * in;
    }
    for (int k0 = 0; k0 < in; k0 += GEMV_TILE) {
        int cols = in - k0 < GEMV_TILE ? in - k0 : GEMV_TILE, vectors = cols / VEC;
        __syncthreads();   // every warp is done with the previous tile
        for (int i = threadIdx.x; i < R * vectors; i += blockDim.x) {
            int r = i / vectors, c = (i - r * vectors) * VEC;
            if (VEC == 8) {
                *reinterpret_cast<bf16x8*>(xs + r * width + c)
                        = *reinterpret_cast<const bf16x8*>(x + (long long) r * in + k0 + c);
            } else {
                xs[r * width + c] = x[(long long) r * in + k0 + c];
            }
        }
        __syncthreads();
        if (!live) continue;
        for (int c = lane * VEC; c < cols; c += WARP * VEC) {
            float wv[GEMV_ROWS_PER_WARP][VEC];
            for (int j = 0; j < GEMV_ROWS_PER_WARP; j++) gemv_load<VEC>(wr[j] + k0 + c, wv[j]);
            for (int r = 0; r < R; r++) {
                float xv[VEC];
                gemv_load<VEC>(xs + r * width + c, xv);
                for (int j = 0; j < GEMV_ROWS_PER_WARP; j++) {
                    for (int e = 0; e < VEC; e++) acc[j][r] += wv[j][e] * xv[e];
                }
            }
        }
    }
    if (!live) return;
    for (int j = 0; j < GEMV_ROWS_PER_WARP; j++) {
        for (int r = 0; r < R; r++) {
            float s = warp_sum(acc[j][r]);
            if (lane == (j * R + r) % WARP && first + j < out) gemv_store(y + (long long) r * out + first + j, s);
        }
    }
}

// One piece of a problem: its row count (1..GEMV_MAX_ROWS) as the template constant; 0 or more runs nothing. The count
// must be uniform over the block (grouped_gemv_rows's __syncthreads).
template <int VEC, typename T>
__device__ __forceinline__ void grouped_gemv_count(const bf16_t* w, const bf16_t* x, T* y, int rows, int out, int in) {
    switch (rows) {
        case 1: grouped_gemv_rows<1, VEC>(w, x, y, out, in); break;
        case 2: grouped_gemv_rows<2, VEC>(w, x, y, out, in); break;
        case 3: grouped_gemv_rows<3, VEC>(w, x, y, out, in); break;
        case 4: grouped_gemv_rows<4, VEC>(w, x, y, out, in); break;
        case 5: grouped_gemv_rows<5, VEC>(w, x, y, out, in); break;
        case 6: grouped_gemv_rows<6, VEC>(w, x, y, out, in); break;
        case 7: grouped_gemv_rows<7, VEC>(w, x, y, out, in); break;
        case 8: grouped_gemv_rows<8, VEC>(w, x, y, out, in); break;
        default: break;   // 0 (not in the table) or beyond GEMV_MAX_ROWS (the host never sends it)
    }
}

template <int VEC, typename T>
__device__ __forceinline__ void grouped_gemv_of(const long long* table, int problems, int first, int out, int in) {
    int p = first + blockIdx.y;
    if (p >= problems) return;
    // a block's problem has one count: uniform over the block
    grouped_gemv_count<VEC, T>((const bf16_t*) table[p], (const bf16_t*) table[problems + p],
                               (T*) table[2 * problems + p], (int) table[3 * problems + p], out, in);
}

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * WARP) grouped_gemv(const long long* table, int problems,
                                                                             int first, int out, int in, int vec) {
    if (vec) grouped_gemv_of<8, float>(table, problems, first, out, in);
    else grouped_gemv_of<1, float>(table, problems, first, out, in);
}

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * WARP) grouped_gemv_bf16(const long long* table,
                                                                                  int problems, int first, int out,
                                                                                  int in, int vec) {
    if (vec) grouped_gemv_of<8, bf16_t>(table, problems, first, out, in);
    else grouped_gemv_of<1, bf16_t>(table, problems, first, out, in);
}

// The same products with the row counts left on the device (-Dmoeprune.decodeRouting=device, a decode step: nothing
// comes back to the host between the routing and the products). Block (blockIdx.x, e): expert e's output rows as
// above, its rows [expertStart[e], expertStart[e+1]) of the grouped x [.., in] and y [.., out], W_e at weights[e];
// the rows in pieces of at most GEMV_MAX_ROWS, one after the other (grouped_gemv_rows's first __syncthreads keeps a
// piece's staging off the previous one's rows). The count is read by every thread from expertStart, so it and the
// pieces are uniform over the block; a count of 0 returns at once. 16-byte loads where in is a multiple of 8 and W_e
// and the expert's first x row are 16-byte aligned (then every row is), decided per block; the dynamic shared memory
// is min(most rows, GEMV_MAX_ROWS) × min(in, GEMV_TILE) BF16.
template <typename T>
__device__ __forceinline__ void grouped_gemv_routed_of(const int* expertStart, const long long* weights,
                                                       const bf16_t* x, T* y, int out, int in) {
    int e = blockIdx.y, start = expertStart[e], rows = expertStart[e + 1] - start;
    if (rows <= 0) return;
    const bf16_t* w = (const bf16_t*) weights[e];
    const bf16_t* xe = x + (long long) start * in;
    T* ye = y + (long long) start * out;
    bool vec = in % 8 == 0 && (((unsigned long long) w | (unsigned long long) xe) & 15) == 0;
    for (int first = 0; first < rows; first += GEMV_MAX_ROWS) {
        int n = rows - first < GEMV_MAX_ROWS ? rows - first : GEMV_MAX_ROWS;
        if (vec) grouped_gemv_count<8, T>(w, xe + (long long) first * in, ye + (long long) first * out, n, out, in);
        else grouped_gemv_count<1, T>(w, xe + (long long) first * in, ye + (long long) first * out, n, out, in);
    }
}

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * WARP) grouped_gemv_routed(const int* expertStart,
                                                                                    const long long* weights,
                                                                                    const bf16_t* x, float* y,
                                                                                    int out, int in) {
    grouped_gemv_routed_of<float>(expertStart, weights, x, y, out, in);
}

extern "C" __global__ void __launch_bounds__(GEMV_WARPS * WARP) grouped_gemv_routed_bf16(const int* expertStart,
                                                                                         const long long* weights,
                                                                                         const bf16_t* x, bf16_t* y,
                                                                                         int out, int in) {
    grouped_gemv_routed_of<bf16_t>(expertStart, weights, x, y, out, in);
}
// ---- end of the experts' products for few rows an expert

// Slot order s = 0..k-1 and unfused float arithmetic, as HostOps: deterministic and bit-exact.
template <typename T>
__device__ __forceinline__ void combine_slots_of(const T* expertRows, const int* slotRow, const float* weight,
                                                 float* out, int n, int k, int width) {
    long long total = (long long) n * width;
    GRID_STRIDE(p, total) {
        long long t = p / width;
        int c = (int) (p % width);
        float acc = 0.f;
        for (int s = 0; s < k; s++) {
            int row = slotRow[t * k + s];
            if (row >= 0) {
                acc = __fadd_rn(acc, __fmul_rn(weight[t * k + s], expert_element(expertRows, (long long) row * width + c)));
            }
        }
        out[p] = acc;
    }
}

extern "C" __global__ void combine_slots(const float* expertRows, const int* slotRow, const float* weight, float* out,
                                         int n, int k, int width) {
    combine_slots_of(expertRows, slotRow, weight, out, n, k, width);
}

extern "C" __global__ void combine_slots_bf16(const bf16_t* expertRows, const int* slotRow, const float* weight,
                                              float* out, int n, int k, int width) {
    combine_slots_of(expertRows, slotRow, weight, out, n, k, width);
}

// One warp per slot, sums in double.
template <typename T>
__device__ __forceinline__ void slot_norms_of(const T* expertRows, const int* slotRow, float* norms, int count,
                                              int width) {
    int i = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (i >= count) return;
    int row = slotRow[i];
    double sq = 0;
    if (row >= 0) {
        const T* e = expertRows + (long long) row * width;
        for (int c = lane; c < width; c += WARP) {
            double v = expert_element(e, c);
            sq += v * v;
        }
    }
    sq = warp_sum_d(sq);
    if (lane == 0) norms[i] = (float) sqrt(sq);
}

extern "C" __global__ void slot_norms(const float* expertRows, const int* slotRow, float* norms, int count, int width) {
    slot_norms_of(expertRows, slotRow, norms, count, width);
}

extern "C" __global__ void slot_norms_bf16(const bf16_t* expertRows, const int* slotRow, float* norms, int count,
                                           int width) {
    slot_norms_of(expertRows, slotRow, norms, count, width);
}

// combine_slots and slot_norms in one read of the expert rows (-Dmoeprune.fusedSlotNorms): a block per token, each
// thread's columns accumulated in slot order s = 0..k-1 with unfused float arithmetic (bit-identical to
// combine_slots), each slot's sum of squares in double reduced across the block. Slots go in groups of
// FUSED_NORM_SLOTS (their sums held in registers); a later group resumes a column from out, which only its thread wrote.
#define FUSED_NORM_SLOTS 8
template <typename T>
__device__ __forceinline__ void combine_slots_with_norms_of(const T* expertRows, const int* slotRow,
                                                            const float* weight, float* out, int n, int k, int width,
                                                            float* norms) {
    __shared__ double part[32][FUSED_NORM_SLOTS];
    int t = blockIdx.x, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, warps = blockDim.x / WARP;
    if (t >= n) return;
    const int* rows = slotRow + (long long) t * k;
    const float* w = weight + (long long) t * k;
    float* o = out + (long long) t * width;
    for (int g = 0; g < k; g += FUSED_NORM_SLOTS) {
        int m = min(FUSED_NORM_SLOTS, k - g);
        double sq[FUSED_NORM_SLOTS];
#pragma unroll
        for (int j = 0; j < FUSED_NORM_SLOTS; j++) sq[j] = 0;
        for (int c = threadIdx.x; c < width; c += blockDim.x) {
            float acc = g == 0 ? 0.f : o[c];
#pragma unroll
            for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
                if (j < m) {
                    int row = rows[g + j];
                    if (row >= 0) {
                        float v = expert_element(expertRows, (long long) row * width + c);
                        acc = __fadd_rn(acc, __fmul_rn(w[g + j], v));
                        sq[j] += (double) v * v;
                    }
                }
            }
            o[c] = acc;
        }
#pragma unroll
        for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
            double s = warp_sum_d(sq[j]);
            if (lane == 0) part[warp][j] = s;
        }
        __syncthreads();
        if (threadIdx.x < m) {
            double s = 0;
            for (int i = 0; i < warps; i++) s += part[i][threadIdx.x];
            norms[(long long) t * k + g + threadIdx.x] = (float) sqrt(s);
        }
        __syncthreads();
    }
}

extern "C" __global__ void combine_slots_with_norms(const float* expertRows, const int* slotRow, const float* weight,
                                                    float* out, int n, int k, int width, float* norms) {
    combine_slots_with_norms_of(expertRows, slotRow, weight, out, n, k, width, norms);
}

extern "C" __global__ void combine_slots_with_norms_bf16(const bf16_t* expertRows, const int* slotRow,
                                                         const float* weight, float* out, int n, int k, int width,
                                                         float* norms) {
    combine_slots_with_norms_of(expertRows, slotRow, weight, out, n, k, width, norms);
}

// The MoE block's epilogue in one read of each token's slot rows and x (-Dmoeprune.fusedEpilogue): a block per token,
// each thread's columns r = combine_slots' sum (slot order, unfused float arithmetic: its bits), x += m·(r + shared)
// as add_scaled (shared added first as add_scaled with m 1 adds it), the finite flag as non_finite over the n·width
// new values; the combined row itself is not written. Watched (the _watched kernels): the first FUSED_NORM_SLOTS slots'
// sums of squares by the same read, the turn's three sums of (x before the add, r), all in double, reduced across the
// block; a slot after those (k > FUSED_NORM_SLOTS) is read again for its norm, a warp per slot. Two kernels do it:
// moe_epilogue_of below (a column a thread: any shape) and moe_epilogue_vector_of after it (4 columns a thread);
// their shared steps first.
#define EPILOGUE_SUMS (FUSED_NORM_SLOTS + 3)

// x's new element from x's element h and the combined element acc: shared's element s added to acc first when there
// are shared rows, then m as add_scaled (m 1 adding: the same bits as 1·branch).
__device__ __forceinline__ float epilogue_residual(float h, float acc, bool hasShared, float s, float m) {
    float branch = hasShared ? __fadd_rn(acc, s) : acc;
    return m == 1.f ? __fadd_rn(h, branch) : __fadd_rn(h, __fmul_rn(m, branch));
}

// The finite flag as non_finite raises it for x's new element sum, fromEnd elements before the end of the n·width.
__device__ __forceinline__ void epilogue_flag(float sum, long long fromEnd, int* flags, int flag) {
    unsigned int bits = __float_as_uint(sum);
    if ((bits & 0x7F800000u) == 0x7F800000u) {
        atomicMax(flags + flag, (int) (2 * fromEnd) + ((bits & 0x007FFFFFu) != 0 ? 1 : 0));
    }
}

// One element's terms of the turn's three sums (as the turns kernel): h = x before the add, y = h + r, in double.
__device__ __forceinline__ void turn_terms(float h, float acc, double* sums) {
    double hv = h, y = hv + (double) acc;
    sums[0] += hv * hv;
    sums[1] += hv * y;
    sums[2] += y * y;
}

// A watched block's end: each thread's EPILOGUE_SUMS sums (the first FUSED_NORM_SLOTS slots' squares, then the turn's
// hh, hy, yy) added across the block in double (a warp's by shuffles, then each sum over the warps by one thread),
// the first `fused` slots' norms and the token's turn written.
__device__ __forceinline__ void epilogue_watched_end(const double* sums, int t, int k, int fused, float* norms,
                                                     float* turn) {
    __shared__ double part[32][EPILOGUE_SUMS];
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, warps = blockDim.x / WARP;
#pragma unroll
    for (int j = 0; j < EPILOGUE_SUMS; j++) {
        double s = warp_sum_d(sums[j]);
        if (lane == 0) part[warp][j] = s;
    }
    __syncthreads();
    if (threadIdx.x < EPILOGUE_SUMS) {   // each column summed over the warps by its own thread, into row 0
        double s = 0;
        for (int i = 0; i < warps; i++) s += part[i][threadIdx.x];
        part[0][threadIdx.x] = s;
    }
    __syncthreads();
    if (threadIdx.x < fused) norms[(long long) t * k + threadIdx.x] = (float) sqrt(part[0][threadIdx.x]);
    if (threadIdx.x == 0) {
        double a = part[0][FUSED_NORM_SLOTS], b = part[0][FUSED_NORM_SLOTS + 1], c = part[0][FUSED_NORM_SLOTS + 2];
        turn[t] = a == 0 || c == 0 ? 0.f : (float) fmax(0.0, 1.0 - b / sqrt(a * c));
    }
}

// A column a thread at a time (c += blockDim.x), each slot's element loaded behind its mask test: the default
// (-Dmoeprune.epilogueKernel=scalar) and the vector kernel's fallback.
template <typename T, bool WATCHED>
__device__ __forceinline__ void moe_epilogue_of(const T* expertRows, const int* slotRow, const float* weight, int n,
                                                int k, int width, const float* shared, float* x, float m,
                                                float* norms, float* turn, int* flags, int flag) {
    int t = blockIdx.x, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, warps = blockDim.x / WARP;
    if (t >= n) return;
    const int* rows = slotRow + (long long) t * k;
    const float* w = weight + (long long) t * k;
    float* xt = x + (long long) t * width;
    long long count = (long long) n * width, base = (long long) t * width;
    int fused = min(k, FUSED_NORM_SLOTS);
    double sums[EPILOGUE_SUMS];
#pragma unroll
    for (int j = 0; j < EPILOGUE_SUMS; j++) sums[j] = 0;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        float acc = 0.f;
#pragma unroll
        for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
            if (j < fused) {
                int row = rows[j];
                if (row >= 0) {
                    float v = expert_element(expertRows, (long long) row * width + c);
                    acc = __fadd_rn(acc, __fmul_rn(w[j], v));
                    if (WATCHED) sums[j] += (double) v * v;
                }
            }
        }
        for (int s = FUSED_NORM_SLOTS; s < k; s++) {
            int row = rows[s];
            if (row >= 0) {
                acc = __fadd_rn(acc, __fmul_rn(w[s], expert_element(expertRows, (long long) row * width + c)));
            }
        }
        float h = xt[c];
        if (WATCHED) turn_terms(h, acc, sums + FUSED_NORM_SLOTS);
        float sum = epilogue_residual(h, acc, shared != 0, shared != 0 ? shared[base + c] : 0.f, m);
        xt[c] = sum;
        epilogue_flag(sum, count - base - c, flags, flag);
    }
    if (!WATCHED) return;
    epilogue_watched_end(sums, t, k, fused, norms, turn);
    for (int s = FUSED_NORM_SLOTS + warp; s < k; s += warps) {
        int row = rows[s];
        double q = 0;
        if (row >= 0) {
            for (int c = lane; c < width; c += WARP) {
                double v = expert_element(expertRows, (long long) row * width + c);
                q += v * v;
            }
        }
        q = warp_sum_d(q);
        if (lane == 0) norms[(long long) t * k + s] = (float) sqrt(q);
    }
}

// Watched or not as a template argument: the unwatched kernels (perplexity, unwatched chunks) hold no double sums
// (nvcc 13 sm_90: 32 registers against the watched ones' 58, no spills; 62 before their shared steps were functions).
#define MOE_EPILOGUE(name, T, WATCHED)                                                                               \
    extern "C" __global__ void name(const T* expertRows, const int* slotRow, const float* weight, int n, int k,   \
                                    int width, const float* shared, float* x, float m, float* norms, float* turn,  \
                                    int* flags, int flag) {                                                        \
        moe_epilogue_of<T, WATCHED>(expertRows, slotRow, weight, n, k, width, shared, x, m, norms, turn, flags,     \
                                    flag);                                                                         \
    }
MOE_EPILOGUE(moe_epilogue, float, false)
MOE_EPILOGUE(moe_epilogue_bf16, bf16_t, false)
MOE_EPILOGUE(moe_epilogue_watched, float, true)
MOE_EPILOGUE(moe_epilogue_watched_bf16, bf16_t, true)

// 4 BF16 elements of an expert row in one 8-byte access.
struct alignas(8) bf16_quad { unsigned int lo, hi; };

// 4 consecutive elements of a row in one access, as loaded (BF16 widened at use, exactly).
__device__ __forceinline__ quad load_quad(const float* p) {
    return *reinterpret_cast<const quad*>(p);
}

__device__ __forceinline__ bf16_quad load_quad(const bf16_t* p) {
    return *reinterpret_cast<const bf16_quad*>(p);
}

__device__ __forceinline__ float quad_element(const quad& q, int e) {
    return q.v[e];
}

__device__ __forceinline__ float quad_element(const bf16_quad& q, int e) {
    unsigned int pair = e < 2 ? q.lo : q.hi;   // little-endian: the lower element in the low half
    return __uint_as_float((e & 1) ? (pair & 0xFFFF0000u) : (pair << 16));
}

template <typename T> struct quad_of { typedef quad type; };
template <> struct quad_of<bf16_t> { typedef bf16_quad type; };

// A slot's sum of squares over the 4 elements of a load: in float (<= 4 squares, under 3e-7 relative; one conversion
// to double where moe_epilogue_of does 4), but in double, as moe_epilogue_of, where float could lose it: a sum under
// 2^-100 (squares underflowing; 4 zeros are 0 either way) or over 2^100 (overflowing), or not finite.
template <typename Q>
__device__ __forceinline__ double quad_squares(const Q& v) {
    float q = 0.f;
#pragma unroll
    for (int e = 0; e < 4; e++) q = __fmaf_rn(quad_element(v, e), quad_element(v, e), q);
    if (q > 0x1p-100f && q < 0x1p100f) return q;
    bool zeros = true;
#pragma unroll
    for (int e = 0; e < 4; e++) zeros = zeros && quad_element(v, e) == 0.f;
    if (zeros) return 0;
    double d = 0;
#pragma unroll
    for (int e = 0; e < 4; e++) d += (double) quad_element(v, e) * quad_element(v, e);
    return d;
}

// 4 consecutive columns a thread at a time (-Dmoeprune.epilogueKernel=vector): one 16-byte load of each F32 slot row
// (8 bytes of BF16), x and the shared rows in 16-byte accesses, every slot's load issued before the first add (a
// masked slot's predicated off: it reads nothing and adds nothing). Each element's float operations are
// moe_epilogue_of's (acc from 0, w_s·v added over the slots s = 0..k-1 in order): the same x bits and finite flag.
// Watched: the turn's sums as moe_epilogue_of, a slot's squares by quad_squares. Takes k <= FUSED_NORM_SLOTS, widths
// that are multiples of 4 and 16-byte aligned x and rows (8-byte BF16 rows); CudaOps runs moe_epilogue_of on the rest.
template <typename T, bool WATCHED>
__device__ __forceinline__ void moe_epilogue_vector_of(const T* expertRows, const int* slotRow, const float* weight,
                                                       int n, int k, int width, const float* shared, float* x,
                                                       float m, float* norms, float* turn, int* flags, int flag) {
    typedef typename quad_of<T>::type row_quad;
    int t = blockIdx.x;
    if (t >= n) return;
    long long count = (long long) n * width, base = (long long) t * width;
    float* xt = x + base;
    const float* st = shared != 0 ? shared + base : 0;
    int row[FUSED_NORM_SLOTS];
    float w[FUSED_NORM_SLOTS];
#pragma unroll
    for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
        row[j] = j < k ? slotRow[(long long) t * k + j] : -1;
        w[j] = j < k ? weight[(long long) t * k + j] : 0.f;
    }
    double sums[EPILOGUE_SUMS];
#pragma unroll
    for (int j = 0; j < EPILOGUE_SUMS; j++) sums[j] = 0;
    for (int c = 4 * threadIdx.x; c < width; c += 4 * blockDim.x) {
        row_quad v[FUSED_NORM_SLOTS];
#pragma unroll
        for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
            if (row[j] >= 0) v[j] = load_quad(expertRows + (long long) row[j] * width + c);
            else v[j] = row_quad{};
        }
        quad h = load_quad(xt + c), s = st != 0 ? load_quad(st + c) : quad{}, out;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float acc = 0.f;
#pragma unroll
            for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
                if (row[j] >= 0) acc = __fadd_rn(acc, __fmul_rn(w[j], quad_element(v[j], e)));
            }
            if (WATCHED) turn_terms(h.v[e], acc, sums + FUSED_NORM_SLOTS);
            out.v[e] = epilogue_residual(h.v[e], acc, st != 0, s.v[e], m);
        }
        if (WATCHED) {
#pragma unroll
            for (int j = 0; j < FUSED_NORM_SLOTS; j++) {
                if (row[j] >= 0) sums[j] += quad_squares(v[j]);
            }
        }
        *reinterpret_cast<quad*>(xt + c) = out;
#pragma unroll
        for (int e = 0; e < 4; e++) epilogue_flag(out.v[e], count - base - c - e, flags, flag);
    }
    if (WATCHED) epilogue_watched_end(sums, t, k, min(k, FUSED_NORM_SLOTS), norms, turn);
}

// EPILOGUE_VECTOR_THREADS a block (CudaOps.VECTOR_EPILOGUE_THREADS launches them), at least 5 blocks an SM asked
// of the compiler: nvcc 13 sm_90 gives 96 registers watched and 79 unwatched on F32 rows, 92 and 64 on BF16 rows, no
// spills (117, 89, 122, 68 unbounded: 4 blocks an SM watched), each thread with 8 16-byte loads in flight.
#define EPILOGUE_VECTOR_THREADS 128
#define MOE_EPILOGUE_VECTOR(name, T, WATCHED)                                                                        \
    extern "C" __global__ void __launch_bounds__(EPILOGUE_VECTOR_THREADS, 5)                                       \
    name(const T* expertRows, const int* slotRow, const float* weight, int n, int k, int width, const float* shared, \
         float* x, float m, float* norms, float* turn, int* flags, int flag) {                                     \
        moe_epilogue_vector_of<T, WATCHED>(expertRows, slotRow, weight, n, k, width, shared, x, m, norms, turn,     \
                                           flags, flag);                                                           \
    }
MOE_EPILOGUE_VECTOR(moe_epilogue_vector, float, false)
MOE_EPILOGUE_VECTOR(moe_epilogue_vector_bf16, bf16_t, false)
MOE_EPILOGUE_VECTOR(moe_epilogue_vector_watched, float, true)
MOE_EPILOGUE_VECTOR(moe_epilogue_vector_watched_bf16, bf16_t, true)

// One warp per token: 1 - cos(h, h + r) with double sums (EASY-EP's turn).
extern "C" __global__ void turns(const float* h, const float* r, float* turn, int n, int width) {
    int t = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (t >= n) return;
    const float* hr = h + (long long) t * width;
    const float* rr = r + (long long) t * width;
    double hh = 0, hy = 0, yy = 0;
    for (int i = lane; i < width; i += WARP) {
        double hv = hr[i], y = hv + (double) rr[i];
        hh += hv * hv;
        hy += hv * y;
        yy += y * y;
    }
    hh = warp_sum_d(hh);
    hy = warp_sum_d(hy);
    yy = warp_sum_d(yy);
    if (lane == 0) turn[t] = hh == 0 || yy == 0 ? 0.f : (float) fmax(0.0, 1.0 - hy / sqrt(hh * yy));
}

// ---- routing on the device (runtime.Router; HostOps: RoutingReference, step by step) ---------------------------
// One warp per token. Choices (max, top-k) are warp reductions that give the CPU's sequential answer: a max with
// the lower index winning ties is order-free (NaN handled as the CPU's scans do); sums are sequential in lane 0, in
// expert or slot order as on the CPU; exp in double rounded to float as Java's (float) Math.exp; _rn intrinsics so
// nothing is contracted. The ids and weights are then the CPU's given the same logits.

#define ROUTE_SOFTMAX 0
#define ROUTE_SOFTMAX_TOPK 1
#define ROUTE_SIGMOID 2
#define GROUPS_NOGROUP 0
#define GROUPS_EASYEP_MUL 2
#define GROUPING_TILE 1024                                 // DeviceOps.GROUPING_TILE
#define NEG_INF __uint_as_float(0xFF800000u)

// Java's Math.max for floats: NaN wins (a NaN logit then makes every softmax score NaN, as on the CPU).
__device__ __forceinline__ float java_max(float a, float b) {
    return a != a ? a : (b != b ? b : fmaxf(a, b));
}

// The CPU's top-k step (Router.topK) over v[0..n) among the candidates not taken (bit j of lane l's mask: index
// l + 32j): the first candidate left when it is NaN, else the greatest non-NaN one, the lower index on equal values.
// Every lane returns it.
__device__ int warp_best(const float* v, int n, unsigned int taken, int lane) {
    int first = 0x7FFFFFFF, best = -1;
    float bestV = 0.f;
    for (int j = 0, i = lane; i < n; j++, i += WARP) {
        if ((taken >> j) & 1u) continue;
        float x = v[i];
        if (first == 0x7FFFFFFF) first = i;
        if (x == x && (best < 0 || x > bestV)) {
            best = i;
            bestV = x;
        }
    }
    for (int o = WARP / 2; o > 0; o >>= 1) {
        int f = __shfl_xor_sync(0xFFFFFFFFu, first, o), b = __shfl_xor_sync(0xFFFFFFFFu, best, o);
        float bv = __shfl_xor_sync(0xFFFFFFFFu, bestV, o);
        first = f < first ? f : first;
        if (b >= 0 && (best < 0 || bv > bestV || (bv == bestV && b < best))) {
            best = b;
            bestV = bv;
        }
    }
    return best < 0 || v[first] != v[first] ? first : best;
}

// Router.route for n tokens of logits [n, E]: ids [n·k] (best first) and weights [n·k]. bias [E] or null; maskKept
// [E] int flags or null; scoring: ROUTE_*; strategy: 0 nogroup, 1 balanced, 2 easyep-mul. Shared memory: per warp
// scores [E], choice scores [E], group scores [nGroup].
extern "C" __global__ void route_tokens(const float* logits, int n, int experts, int k, int scoring, int normalise,
                                        float scaling, int nGroup, int topkGroup, int sumTop2, int strategy,
                                        const float* bias, const int* maskKept, int* ids, float* weights) {
    extern __shared__ float route_shared[];
    int w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int t = blockIdx.x * (blockDim.x / WARP) + w;
    if (t >= n) return;                                   // the whole warp
    float* scores = route_shared + w * (2 * experts + nGroup);
    float* choice = scores + experts;
    float* groupScore = choice + experts;
    const float* z = logits + (long long) t * experts;
    bool groups = nGroup > 1;
    bool multiply = groups && strategy == GROUPS_EASYEP_MUL && maskKept != 0;
    const int* kept = multiply ? 0 : maskKept;           // EASY-EP's patch scores every expert, then removes
    float outside = sumTop2 ? __uint_as_float(0xFF7FFFFFu) : 0.f;   // -Float.MAX_VALUE or 0 (Router)

    if (scoring == ROUTE_SOFTMAX) {
        float m = NEG_INF;
        for (int i = lane; i < experts; i += WARP) if (kept == 0 || kept[i]) m = java_max(m, z[i]);
        for (int o = WARP / 2; o > 0; o >>= 1) m = java_max(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
        for (int i = lane; i < experts; i += WARP) {
            scores[i] = kept == 0 || kept[i] ? (float) exp((double) __fsub_rn(z[i], m)) : 0.f;
        }
        __syncwarp();
        float sum = 0.f;
        if (lane == 0) for (int i = 0; i < experts; i++) sum = __fadd_rn(sum, scores[i]);
        sum = __shfl_sync(0xFFFFFFFFu, sum, 0);
        for (int i = lane; i < experts; i += WARP) {
            scores[i] = __fdiv_rn(scores[i], sum);
            choice[i] = kept == 0 || kept[i] ? scores[i] : NEG_INF;
        }
    } else if (scoring == ROUTE_SOFTMAX_TOPK) {
        for (int i = lane; i < experts; i += WARP) {
            scores[i] = z[i];
            choice[i] = kept == 0 || kept[i] ? z[i] : NEG_INF;
        }
    } else {
        for (int i = lane; i < experts; i += WARP) {
            float s = __fdiv_rn(1.f, __fadd_rn(1.f, (float) exp(-(double) z[i])));
            scores[i] = s;
            choice[i] = kept == 0 || kept[i] ? (bias == 0 ? s : __fadd_rn(s, bias[i])) : NEG_INF;
        }
    }
    __syncwarp();

    if (groups && strategy != GROUPS_NOGROUP) {
        int per = experts / nGroup;
        for (int g = lane; g < nGroup; g += WARP) {      // Router.restrictToGroups: best and second, in order
            float best = NEG_INF, second = NEG_INF;
            for (int i = g * per; i < (g + 1) * per; i++) {
                float v = choice[i];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            groupScore[g] = sumTop2 ? __fadd_rn(best, second) : best;
        }
        __syncwarp();
        unsigned int keep = 0;
        for (int j = 0; j < topkGroup; j++) {
            int g = warp_best(groupScore, nGroup, keep, lane);
            if (g % WARP == lane) keep |= 1u << (g / WARP);
        }
        __syncwarp();
        for (int g = lane, j = 0; g < nGroup; g += WARP, j++) groupScore[g] = (keep >> j) & 1u ? 1.f : 0.f;
        __syncwarp();
        for (int i = lane; i < nGroup * per; i += WARP) {
            if (groupScore[i / per] != 0.f || choice[i] == NEG_INF) continue;
            choice[i] = outside;
            if (outside == 0.f) scores[i] = 0.f;
        }
        __syncwarp();
    }
    if (multiply) {                                       // Router.multiplyByZero
        for (int i = lane; i < experts; i += WARP) {
            if (maskKept[i]) continue;
            if (choice[i] != outside) choice[i] = 0.f;
            if (scoring == ROUTE_SOFTMAX) scores[i] = 0.f;
        }
        __syncwarp();
    }

    int* chosen = ids + (long long) t * k;
    unsigned int taken = 0;
    for (int s = 0; s < k; s++) {
        int id = warp_best(choice, experts, taken, lane);
        if (id % WARP == lane) taken |= 1u << (id / WARP);
        if (lane == 0) chosen[s] = id;
    }
    if (lane != 0) return;
    float* g = weights + (long long) t * k;
    float sum = 0.f;
    if (scoring == ROUTE_SOFTMAX_TOPK) {
        float m = scores[chosen[0]];
        for (int s = 0; s < k; s++) {
            g[s] = (float) exp((double) __fsub_rn(scores[chosen[s]], m));
            sum = __fadd_rn(sum, g[s]);
        }
        for (int s = 0; s < k; s++) g[s] = __fdiv_rn(g[s], sum);
    } else {
        for (int s = 0; s < k; s++) {
            g[s] = scores[chosen[s]];
            sum = __fadd_rn(sum, g[s]);
        }
        if (normalise) for (int s = 0; s < k; s++) g[s] = __fdiv_rn(g[s], sum);
    }
    if (scaling != 1.f && scaling != 0.f) for (int s = 0; s < k; s++) g[s] = __fmul_rn(g[s], scaling);
}

// The stable counting sort of the slots by expert, one warp per tile of GROUPING_TILE slots walked in slot order,
// 32 at a time (the lanes of one expert find each other with __match_any_sync). scatter 0: the tile's count of each
// expert into tiles[tile, e]; scatter 1 (after expert_offsets): from where tiles[tile, e] says the tile's pairs of
// expert e start, each slot's grouped position (slotRow) and the token there (gatherRow). Shared: E ints per warp.
extern "C" __global__ void expert_tiles(const int* ids, int slots, int k, int experts, int* tiles, int* gatherRow,
                                        int* slotRow, int scatter) {
    extern __shared__ int tile_shared[];
    int w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int tile = blockIdx.x * (blockDim.x / WARP) + w;
    int from = tile * GROUPING_TILE;
    if (from >= slots) return;                            // the whole warp
    int to = slots - from < GROUPING_TILE ? slots : from + GROUPING_TILE;
    int* running = tile_shared + w * experts;
    int* row = tiles + (long long) tile * experts;
    for (int e = lane; e < experts; e += WARP) running[e] = scatter ? row[e] : 0;
    int id[GROUPING_TILE / WARP];                         // all the tile's loads in flight at once
#pragma unroll
    for (int j = 0; j < GROUPING_TILE / WARP; j++) {
        int s = from + j * WARP + lane;
        id[j] = s < to ? ids[s] : -1;
    }
    __syncwarp();
#pragma unroll
    for (int j = 0; j < GROUPING_TILE / WARP; j++) {
        int s = from + j * WARP + lane;
        unsigned int peers = __match_any_sync(0xFFFFFFFFu, id[j]);
        int before = __popc(peers & ((1u << lane) - 1u));
        if (scatter && id[j] >= 0) {
            int at = running[id[j]] + before;
            gatherRow[at] = s / k;
            slotRow[s] = at;
        }
        __syncwarp();
        if (id[j] >= 0 && before == 0) running[id[j]] += __popc(peers);
        __syncwarp();
    }
    if (!scatter) for (int e = lane; e < experts; e += WARP) row[e] = running[e];
}

// Between the two expert_tiles passes, one block: expertStart [E+1] (the prefix sums of the experts' totals) and,
// in place, tiles[tile, e] = where the tile's pairs of expert e start. Shared: E ints.
extern "C" __global__ void expert_offsets(int* tiles, int tileCount, int experts, int* expertStart) {
    extern __shared__ int offset_shared[];
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        int total = 0;
#pragma unroll 8
        for (int t = 0; t < tileCount; t++) total += tiles[(long long) t * experts + e];
        offset_shared[e] = total;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int e = 0; e < experts; e++) {
            int c = offset_shared[e];
            offset_shared[e] = run;
            expertStart[e] = run;
            run += c;
        }
        expertStart[experts] = run;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        int run = offset_shared[e];
#pragma unroll 8
        for (int t = 0; t < tileCount; t++) {
            long long at = (long long) t * experts + e;
            int c = tiles[at];
            tiles[at] = run;
            run += c;
        }
    }
}

// ---- prefill attention, fused on tensor cores (CudaOps.attention's flash path) -----------------------------------
//
// FlashAttention-2 in one kernel: a block of WARPS warps (4 or 8) owns 16·WARPS query rows of one sequence and
// one query head (warp w rows 16w..16w+15); the keys go by in tiles of FA_KEYS = 64, each tile's K and V read as F32,
// rounded to BF16 (as HostOps.toBf16Bits, by cvt.rn) into shared memory, then per warp S = Q·Kᵀ and O += P·V on
// mma.sync m16n8k16 (BF16 in, F32 accumulate) with an online softmax in F32 between them. Tiles wholly above the
// diagonal or wholly outside the window are never visited; only the tiles that cross the diagonal or the window's edge
// are masked. No memory beyond the inputs and the output. Sm_80 and later (mma.sync BF16, ldmatrix, cvt bf16x2).
//
// Fragment layouts of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (PTX ISA, "Matrix Fragments for
// mma.m16n8k16 with floating point type"); lane = 4g + t (g = lane/4 the group, t = lane%4 the thread in it); a .b32
// register holds two BF16, the lower column (A, C) or lower k (B) in its low 16 bits:
//   A 16x16 (row major) a0: (row g,   cols 2t, 2t+1)     a1: (row g+8, cols 2t, 2t+1)
//                       a2: (row g,   cols 2t+8, 2t+9)   a3: (row g+8, cols 2t+8, 2t+9)
//   B 16x8  (k x n)     b0: (k 2t, 2t+1;   col n = g)    b1: (k 2t+8, 2t+9; col n = g)
//   C 16x8  (F32)       c0, c1: (row g, cols 2t, 2t+1)   c2, c3: (row g+8, cols 2t, 2t+1)
// So the C fragments of two adjacent n-tiles (keys 16k..16k+7 and 16k+8..16k+15) are, packed to BF16 pairwise, the A
// fragment of k-step k: a0 = C[2k].c0c1, a1 = C[2k].c2c3, a2 = C[2k+1].c0c1, a3 = C[2k+1].c2c3 (P never leaves the
// registers).
// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lanes 8i..8i+7 give the addresses of rows 0..7 of 8x8 matrix i
// (8 BF16 = 16 contiguous bytes each) and register ri receives matrix i: plain, lane 4g+t gets (row g, cols 2t, 2t+1);
// .trans, (rows 2t, 2t+1, col g). Hence with K stored [key][dim] (a B operand of S = Q·Kᵀ has k = dim, n = key):
// plain ldmatrix of (keys n0..n0+7, dims k0..k0+7) is b0 and of dims k0+8.. is b1; with V stored [key][dim] (the B
// of O = P·V has k = key, n = dim): .trans of (keys j0..j0+7, dims d0..d0+7) is b0, of keys j0+8.. b1.
#define FA_KEYS 64
#define FA_PAD 8           // BF16 past each shared row: rows 16 bytes out of step, so ldmatrix's 8 rows hit 8 bank groups
#define FA_LOG2E 1.4426950408889634f

struct alignas(16) fa_quad { float v[4]; };
struct alignas(8) fa_bf16x4 { unsigned int lo, hi; };

// Two floats to a BF16 pair, lo in the low half (round to nearest even, as to_bf16).
__device__ __forceinline__ unsigned int fa_pack(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned int r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));   // the first source goes to the high half
    return r;
#else
    return (unsigned int) to_bf16(lo) | ((unsigned int) to_bf16(hi) << 16);
#endif
}

// D = A·B + D, one m16n8k16 BF16 product of the warp (layouts above).
__device__ __forceinline__ void fa_mma(float* d, const unsigned int* a, unsigned int b0, unsigned int b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ unsigned int fa_shared_address(const void* p) {
    unsigned int address;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }\n" : "=r"(address) : "l"(p));
    return address;
}

// Four 8x8 BF16 matrices, this lane's row address p (layouts above); TRANS: the .trans form. "memory": the compiler
// keeps it after the tile's stores and __syncthreads.
template <bool TRANS>
__device__ __forceinline__ void fa_ldmatrix4(unsigned int* r, const bf16_t* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned int address = fa_shared_address(p);
    if (TRANS) {
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address) : "memory");
    } else {
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address) : "memory");
    }
#endif
}

// The bf16kv variant (CudaOps.flashKv): K and V already BF16 in global memory (CudaOps converts the call's rows once),
// copied to shared memory by cp.async (16 bytes a copy, no registers on the way) into two buffers, so tile j+1 is in
// flight while tile j is computed. Its shared memory is dynamic: the two buffers of the 128 and 192 heads pass 48 KB.
__device__ __forceinline__ unsigned char* fa_dynamic_shared() {
    extern __shared__ __align__(16) unsigned char fa_smem[];
    return fa_smem;
}

// One 16-byte copy from global to shared memory, asynchronous; dst and src 16-byte aligned.
__device__ __forceinline__ void fa_cp_async16(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" : : "r"(fa_shared_address(dst)), "l"(src) : "memory");
#endif
}

// Closes this thread's copies issued so far into a group (an empty group where none was issued).
__device__ __forceinline__ void fa_cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" : : : "memory");
#endif
}

// Waits until at most PENDING of this thread's groups are still in flight.
template <int PENDING>
__device__ __forceinline__ void fa_cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" : : "n"(PENDING) : "memory");
#endif
}

// rows x W of BF16 (rows `stride` elements apart from src, `width` of them real, width and stride multiples of 8 and
// src 16-byte aligned) into dst [FA_KEYS][W + FA_PAD] by cp.async; rows past `rows` and columns past `width` become
// zeros by plain stores (as fa_load_tile's). The caller commits and waits.
template <int W, int THREADS>
__device__ __forceinline__ void fa_copy_tile_async(bf16_t (*dst)[W + FA_PAD], const bf16_t* src, int stride, int rows,
                                                   int width) {
    const int CHUNKS = W / 8;
    for (int u = threadIdx.x; u < FA_KEYS * CHUNKS; u += THREADS) {
        int r = u / CHUNKS, c = (u % CHUNKS) * 8;
        if (r < rows && c < width) {
            fa_cp_async16(&dst[r][c], src + (long long) r * stride + c);
        } else {
            fa_bf16x4 zero = {0u, 0u};
            *(fa_bf16x4*) &dst[r][c] = zero;
            *(fa_bf16x4*) &dst[r][c + 4] = zero;
        }
    }
}

// rows x W of F32 (rows `stride` floats apart from src, `width` of them real) into dst [FA_KEYS][W + FA_PAD] as
// BF16; rows past `rows` and columns past `width` become zeros (a zero key scores 0 and is masked; a zero value adds
// nothing, where garbage could be NaN·0). Four floats a thread at a time. With `vec` (16-byte aligned rows), 16-byte
// loads in batches of FA_BATCH issued before any is converted: several loads in flight per thread (the loop of one
// load, convert and store at a time would wait out the L2 latency per load); else four scalar loads each.
#define FA_BATCH 8
template <int W, int THREADS>
__device__ __forceinline__ void fa_load_tile(bf16_t (*dst)[W + FA_PAD], const float* src, int stride, int rows,
                                             int width, bool vec) {
    const int UNITS = W / 4, PER_THREAD = (FA_KEYS * UNITS + THREADS - 1) / THREADS;
    if (vec) {
#pragma unroll 1
        for (int b = 0; b < PER_THREAD; b += FA_BATCH) {   // not unrolled: the next batch's loads wait (registers)
            fa_quad f[FA_BATCH];
#pragma unroll
            for (int i = 0; i < FA_BATCH; i++) {
                int u = threadIdx.x + (b + i) * THREADS, r = u / UNITS, c = (u % UNITS) * 4;
                f[i].v[0] = f[i].v[1] = f[i].v[2] = f[i].v[3] = 0.f;
                if (b + i < PER_THREAD && u < FA_KEYS * UNITS && r < rows && c < width) {
                    f[i] = *(const fa_quad*) (src + (long long) r * stride + c);
                }
            }
#pragma unroll
            for (int i = 0; i < FA_BATCH; i++) {
                int u = threadIdx.x + (b + i) * THREADS, r = u / UNITS, c = (u % UNITS) * 4;
                if (b + i < PER_THREAD && u < FA_KEYS * UNITS) {
                    fa_bf16x4 packed;
                    packed.lo = fa_pack(f[i].v[0], f[i].v[1]);
                    packed.hi = fa_pack(f[i].v[2], f[i].v[3]);
                    *(fa_bf16x4*) &dst[r][c] = packed;
                }
            }
        }
        return;
    }
    for (int u = threadIdx.x; u < FA_KEYS * UNITS; u += THREADS) {
        int r = u / UNITS, c = (u % UNITS) * 4;
        float x0 = 0.f, x1 = 0.f, x2 = 0.f, x3 = 0.f;
        if (r < rows && c < width) {
            const float* p = src + (long long) r * stride + c;
            x0 = p[0];
            if (c + 1 < width) x1 = p[1];
            if (c + 2 < width) x2 = p[2];
            if (c + 3 < width) x3 = p[3];
        }
        fa_bf16x4 packed;
        packed.lo = fa_pack(x0, x1);
        packed.hi = fa_pack(x2, x3);
        *(fa_bf16x4*) &dst[r][c] = packed;
    }
}

// Output element i: F32, or with outBf16 the same float rounded once to BF16 (as to_bf16_kernel would round it, so the
// same bits as the F32 output then toBf16: o_proj's input without a pass over F32 rows). outBf16 is uniform over the
// grid: the branch costs a compare at the end.
__device__ __forceinline__ void fa_store(void* out, int outBf16, long long i, float v) {
    if (outBf16) ((bf16_t*) out)[i] = to_bf16(v);
    else ((float*) out)[i] = v;
}

// One block: query rows [row0, row0 + ROWS) of sequence [from, from + n) and head h, ROWS = 16·WARPS. QK and VD are
// the head sizes the registers are laid out for (multiples of 16); qkDim <= QK and vDim <= VD are the real ones (the
// rest zeros).
// KV: float (K and V read as F32 and rounded into one pair of shared buffers) or bf16_t (the bf16kv variant: cp.async
// into two pairs, dynamic shared memory of 2·FA_KEYS·(QK + VD + 2·FA_PAD) BF16, CudaOps.flashSharedBytes).
template <int QK, int VD, int WARPS, typename KV>
__device__ __forceinline__ void flash_attention_tile(const float* q, int qStride, const KV* k, int kStride,
                                                     const KV* v, int vStride, void* out, const int* starts,
                                                     int sequences, int heads, int kvHeads, int qkDim, int vDim,
                                                     float scale, int window, const float* sinks, int vec,
                                                     int outBf16) {
    const int ROWS = 16 * WARPS, THREADS = WARP * WARPS;
    constexpr bool ASYNC = sizeof(KV) == sizeof(bf16_t);
    typedef bf16_t KRow[QK + FA_PAD];
    typedef bf16_t VRow[VD + FA_PAD];
    KRow* kbuf;                                            // buffer 0; the bf16kv variant's buffer 1 FA_KEYS rows on
    VRow* vbuf;
    if constexpr (ASYNC) {
        unsigned char* smem = fa_dynamic_shared();
        kbuf = (KRow*) smem;
        vbuf = (VRow*) (smem + 2 * FA_KEYS * sizeof(KRow));
    } else {
        __shared__ __align__(16) bf16_t ks[FA_KEYS][QK + FA_PAD];
        __shared__ __align__(16) bf16_t vs[FA_KEYS][VD + FA_PAD];
        kbuf = ks;
        vbuf = vs;
    }
    // blockIdx.x = slot·heads + h; slots count tiles from the last sequence's last tile backwards (the longest
    // causal rows start first), past the real tiles a slot has nothing to do (the grid is an upper bound).
    int h = blockIdx.x % heads, slot = gridDim.x / heads - 1 - blockIdx.x / heads;
    int s = sequences - 1, from = 0, n = 0, tile = -1;
    for (; s >= 0; s--) {
        from = starts[s];
        n = starts[s + 1] - from;
        int tiles = (n + ROWS - 1) / ROWS;
        if (slot < tiles) {
            tile = tiles - 1 - slot;
            break;
        }
        slot -= tiles;
    }
    if (tile < 0) return;                                  // block-uniform: before any __syncthreads
    int row0 = tile * ROWS;                                // positions within the sequence
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, g = lane / 4, t = lane % 4;
    int warpRow = row0 + 16 * warp;                        // this warp's first row
    int rowLo = warpRow + g, rowHi = rowLo + 8;            // this lane's two rows (C rows g and g+8)
    int kh = h / (heads / kvHeads);
    const KV* kbase = k + (long long) from * kStride + (long long) kh * qkDim;
    const KV* vbase = v + (long long) from * vStride + (long long) kh * vDim;

    // Q as A fragments, BF16, once: k-step kk covers dims 16kk..16kk+15.
    unsigned int qf[QK / 16][4];
    {
        const float* qLo = q + (long long) (from + rowLo) * qStride + (long long) h * qkDim;
        const float* qHi = q + (long long) (from + rowHi) * qStride + (long long) h * qkDim;
        bool lo = rowLo < n, hi = rowHi < n;
#pragma unroll
        for (int kk = 0; kk < QK / 16; kk++) {
            int c = 16 * kk + 2 * t;
#define FA_Q(ok, p, col) ((ok) && (col) < qkDim ? (p)[col] : 0.f)
            qf[kk][0] = fa_pack(FA_Q(lo, qLo, c), FA_Q(lo, qLo, c + 1));
            qf[kk][1] = fa_pack(FA_Q(hi, qHi, c), FA_Q(hi, qHi, c + 1));
            qf[kk][2] = fa_pack(FA_Q(lo, qLo, c + 8), FA_Q(lo, qLo, c + 9));
            qf[kk][3] = fa_pack(FA_Q(hi, qHi, c + 8), FA_Q(hi, qHi, c + 9));
#undef FA_Q
        }
    }
    float o[VD / 8][4];                                    // O: n-tile dt covers dims 8dt..8dt+7 (C layout)
#pragma unroll
    for (int dt = 0; dt < VD / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    float mLo = NEG_INF, mHi = NEG_INF, lLo = 0.f, lHi = 0.f;   // running max (log2 units) and this lane's sum
    const float scale2 = scale * FA_LOG2E;                  // exp(x·scale) = exp2(x·scale2)

    int lastRow = row0 + ROWS - 1 < n - 1 ? row0 + ROWS - 1 : n - 1;
    int firstKey = window > 0 && row0 - window + 1 > 0 ? row0 - window + 1 : 0;
    int firstTile = firstKey / FA_KEYS * FA_KEYS;
    if constexpr (ASYNC) {                                 // the first tile into buffer 0
        int keys = n - firstTile < FA_KEYS ? n - firstTile : FA_KEYS;
        fa_copy_tile_async<QK, THREADS>(kbuf, kbase + (long long) firstTile * kStride, kStride, keys, qkDim);
        fa_copy_tile_async<VD, THREADS>(vbuf, vbase + (long long) firstTile * vStride, vStride, keys, vDim);
        fa_cp_async_commit();
    }
    int buf = 0;                                           // the buffer of tile j0 (always 0 for F32)
    for (int j0 = firstTile; j0 <= lastRow; j0 += FA_KEYS, buf ^= ASYNC ? 1 : 0) {
        int keys = n - j0 < FA_KEYS ? n - j0 : FA_KEYS;
        KRow* ks = kbuf + buf * FA_KEYS;
        VRow* vs = vbuf + buf * FA_KEYS;
        __syncthreads();                                   // the previous tile's readers are done (its buffer free)
        if constexpr (ASYNC) {
            int next = j0 + FA_KEYS;                       // tile j0 + 1 into the other buffer, in flight meanwhile
            if (next <= lastRow) {
                int nextKeys = n - next < FA_KEYS ? n - next : FA_KEYS;
                fa_copy_tile_async<QK, THREADS>(kbuf + (buf ^ 1) * FA_KEYS, kbase + (long long) next * kStride,
                                                kStride, nextKeys, qkDim);
                fa_copy_tile_async<VD, THREADS>(vbuf + (buf ^ 1) * FA_KEYS, vbase + (long long) next * vStride,
                                                vStride, nextKeys, vDim);
            }
            fa_cp_async_commit();
            fa_cp_async_wait<1>();                         // all but the newest group: tile j0 has landed
        } else {
            fa_load_tile<QK, THREADS>(ks, kbase + (long long) j0 * kStride, kStride, keys, qkDim, vec);
            fa_load_tile<VD, THREADS>(vs, vbase + (long long) j0 * vStride, vStride, keys, vDim, vec);
        }
        __syncthreads();
        // Warp-uniform: this warp has rows in the sequence, some key of the tile is at or before its last row, and
        // (window) some key is within the window of its first row... else the tile adds nothing to its rows.
        if (warpRow >= n || j0 > warpRow + 15 || (window > 0 && j0 + FA_KEYS - 1 <= warpRow - window)) continue;

        float sc[FA_KEYS / 8][4];                          // S: n-tile nt covers keys j0+8nt..j0+8nt+7
#pragma unroll
        for (int nt = 0; nt < FA_KEYS / 8; nt++) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < QK / 16; kk++) {
#pragma unroll
            for (int nt = 0; nt < FA_KEYS / 8; nt += 2) {
                // matrices: 0 keys 8nt.., dims 16kk..; 1 dims 16kk+8..; 2 keys 8nt+8.., dims 16kk; 3 both +8
                int m = lane / 8;
                unsigned int b[4];
                fa_ldmatrix4<false>(b, &ks[8 * nt + lane % 8 + (m >> 1) * 8][16 * kk + (m & 1) * 8]);
                fa_mma(sc[nt], qf[kk], b[0], b[1]);
                fa_mma(sc[nt + 1], qf[kk], b[2], b[3]);
            }
        }
        // Scale into log2 units; mask where the tile crosses the diagonal or the window's edge (or the sequence end,
        // which only the diagonal tile reaches).
        bool mask = j0 + FA_KEYS - 1 > warpRow || (window > 0 && j0 <= warpRow + 15 - window);
        float tmLo = NEG_INF, tmHi = NEG_INF;
#pragma unroll
        for (int nt = 0; nt < FA_KEYS / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int row = e < 2 ? rowLo : rowHi, key = j0 + 8 * nt + 2 * t + (e & 1);
                float x = sc[nt][e] * scale2;
                if (mask && (key > row || (window > 0 && row - key >= window))) x = NEG_INF;
                sc[nt][e] = x;
            }
            tmLo = fmaxf(tmLo, fmaxf(sc[nt][0], sc[nt][1]));
            tmHi = fmaxf(tmHi, fmaxf(sc[nt][2], sc[nt][3]));
        }
        // Row max over the 4 lanes of a row (lanes 4g..4g+3 differ in their two low bits).
        tmLo = fmaxf(tmLo, __shfl_xor_sync(0xFFFFFFFFu, tmLo, 1));
        tmLo = fmaxf(tmLo, __shfl_xor_sync(0xFFFFFFFFu, tmLo, 2));
        tmHi = fmaxf(tmHi, __shfl_xor_sync(0xFFFFFFFFu, tmHi, 1));
        tmHi = fmaxf(tmHi, __shfl_xor_sync(0xFFFFFFFFu, tmHi, 2));
        float newLo = fmaxf(mLo, tmLo), newHi = fmaxf(mHi, tmHi);
        // A row with no key yet keeps max -inf: exponents against 0 then give 0, not NaN.
        float baseLo = newLo == NEG_INF ? 0.f : newLo, baseHi = newHi == NEG_INF ? 0.f : newHi;
        float corrLo = exp2f(mLo - baseLo), corrHi = exp2f(mHi - baseHi);
        mLo = newLo;
        mHi = newHi;
        float sumLo = 0.f, sumHi = 0.f;
#pragma unroll
        for (int nt = 0; nt < FA_KEYS / 8; nt++) {
            sc[nt][0] = exp2f(sc[nt][0] - baseLo);
            sc[nt][1] = exp2f(sc[nt][1] - baseLo);
            sc[nt][2] = exp2f(sc[nt][2] - baseHi);
            sc[nt][3] = exp2f(sc[nt][3] - baseHi);
            sumLo += sc[nt][0] + sc[nt][1];
            sumHi += sc[nt][2] + sc[nt][3];
        }
        lLo = lLo * corrLo + sumLo;
        lHi = lHi * corrHi + sumHi;
#pragma unroll
        for (int dt = 0; dt < VD / 8; dt++) {
            o[dt][0] *= corrLo;
            o[dt][1] *= corrLo;
            o[dt][2] *= corrHi;
            o[dt][3] *= corrHi;
        }
        // O += P·V: k-step kk covers keys j0+16kk..j0+16kk+15, its A fragment the C fragments of n-tiles 2kk, 2kk+1.
#pragma unroll
        for (int kk = 0; kk < FA_KEYS / 16; kk++) {
            unsigned int p[4];
            p[0] = fa_pack(sc[2 * kk][0], sc[2 * kk][1]);
            p[1] = fa_pack(sc[2 * kk][2], sc[2 * kk][3]);
            p[2] = fa_pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
            p[3] = fa_pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
            for (int dt = 0; dt < VD / 8; dt += 2) {
                // matrices (.trans): 0 keys 16kk.., dims 8dt..; 1 keys 16kk+8..; 2 dims 8dt+8..; 3 both +8
                int m = lane / 8;
                unsigned int b[4];
                fa_ldmatrix4<true>(b, &vs[16 * kk + lane % 8 + (m & 1) * 8][8 * dt + (m >> 1) * 8]);
                fa_mma(o[dt], p, b[0], b[1]);
                fa_mma(o[dt + 1], p, b[2], b[3]);
            }
        }
    }
    if (warpRow >= n) return;                              // after the last __syncthreads
    // The row sums over the 4 lanes of a row; the sink joins the denominator only.
    lLo += __shfl_xor_sync(0xFFFFFFFFu, lLo, 1);
    lLo += __shfl_xor_sync(0xFFFFFFFFu, lLo, 2);
    lHi += __shfl_xor_sync(0xFFFFFFFFu, lHi, 1);
    lHi += __shfl_xor_sync(0xFFFFFFFFu, lHi, 2);
    float corrLo = 1.f, corrHi = 1.f;
    if (sinks != 0) {
        float sink = sinks[h] * FA_LOG2E;
        float newLo = fmaxf(mLo, sink), newHi = fmaxf(mHi, sink);
        corrLo = exp2f(mLo - newLo);
        corrHi = exp2f(mHi - newHi);
        lLo = lLo * corrLo + exp2f(sink - newLo);
        lHi = lHi * corrHi + exp2f(sink - newHi);
    }
    float invLo = corrLo / lLo, invHi = corrHi / lHi;
    long long lo = ((long long) (from + rowLo) * heads + h) * vDim;
    long long hi = ((long long) (from + rowHi) * heads + h) * vDim;
#pragma unroll
    for (int dt = 0; dt < VD / 8; dt++) {
        int d = 8 * dt + 2 * t;
        if (rowLo < n) {
            if (d < vDim) fa_store(out, outBf16, lo + d, o[dt][0] * invLo);
            if (d + 1 < vDim) fa_store(out, outBf16, lo + d + 1, o[dt][1] * invLo);
        }
        if (rowHi < n) {
            if (d < vDim) fa_store(out, outBf16, hi + d, o[dt][2] * invHi);
            if (d + 1 < vDim) fa_store(out, outBf16, hi + d + 1, o[dt][3] * invHi);
        }
    }
}

// The entry points, one per register layout (CudaOps.flashKernel picks the smallest that holds the heads) and block
// height: 64 rows (4 warps) or, the _rows128 ones, 128 rows (8 warps: K and V read once for twice the rows, one block
// an SM where 64-row blocks fit two). Grid (slots · heads) with slots >= the sequences' tiles of 16·WARPS rows
// (tokens / (16·WARPS) + sequences always is), 32·WARPS threads; vec: q, k, v, their strides and the head sizes allow
// 16-byte loads. Each also as name_bf16kv: k and v BF16 (rows and head sizes multiples of 8 elements, 16-byte aligned),
// launched with 2·FA_KEYS·(QK + VD + 2·FA_PAD)·2 bytes of dynamic shared memory; vec is unused there. out is F32, or
// BF16 with outBf16 (fa_store).
#define FA_ENTRY(name, QK, VD, WARPS)                                                                                \
    extern "C" __global__ void __launch_bounds__(WARP * WARPS) name(                                                \
            const float* q, int qStride, const float* k, int kStride, const float* v, int vStride, void* out,        \
            const int* starts, int sequences, int heads, int kvHeads, int qkDim, int vDim, float scale, int window,  \
            const float* sinks, int vec, int outBf16) {                                                             \
        flash_attention_tile<QK, VD, WARPS, float>(q, qStride, k, kStride, v, vStride, out, starts, sequences,       \
                                                   heads, kvHeads, qkDim, vDim, scale, window, sinks, vec, outBf16); \
    }                                                                                                                \
    extern "C" __global__ void __launch_bounds__(WARP * WARPS) name##_bf16kv(                                       \
            const float* q, int qStride, const bf16_t* k, int kStride, const bf16_t* v, int vStride, void* out,      \
            const int* starts, int sequences, int heads, int kvHeads, int qkDim, int vDim, float scale, int window,  \
            const float* sinks, int vec, int outBf16) {                                                             \
        flash_attention_tile<QK, VD, WARPS, bf16_t>(q, qStride, k, kStride, v, vStride, out, starts, sequences,      \
                                                    heads, kvHeads, qkDim, vDim, scale, window, sinks, vec,          \
                                                    outBf16);                                                       \
    }
FA_ENTRY(flash_attention_64, 64, 64, 4)
FA_ENTRY(flash_attention_128, 128, 128, 4)
FA_ENTRY(flash_attention_192_128, 192, 128, 4)
FA_ENTRY(flash_attention_64_rows128, 64, 64, 8)
FA_ENTRY(flash_attention_128_rows128, 128, 128, 8)
FA_ENTRY(flash_attention_192_128_rows128, 192, 128, 8)
