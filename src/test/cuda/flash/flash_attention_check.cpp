// kernels.cu's flash attention run on the CPU (emulation_prelude.h, emulated_ptx.h) against attention in double (as
// HostOps.attention) on ragged sequences around the 64-row tiles, GQA, windows, sinks, MLA heads and padded heads
// with unaligned rows: the relative L2 error of the whole output under 1e-2 and of its worst row under 5e-2, as
// CudaOpsTest holds the GPU to; each case for both variants (K and V read as F32, and the bf16kv entry points on K and V
// converted to packed BF16 as CudaOps does) at both block heights; and the BF16 output rows (outBf16, o_proj's input
// written by the kernel) bit for bit to_bf16 of its F32 output, on two of the four. Exit 1 on a failure. Built and run
// by scripts/check-flash-attention.sh.
#include <random>
#include <string>
#include "emulation_prelude.h"
#include "flash_kernel.h"   // written by extract_flash_kernel.py

typedef void (*Entry)(const float*, int, const float*, int, const float*, int, void*, const int*, int, int, int, int,
                      int, float, int, const float*, int, int);

typedef void (*Bf16Entry)(const float*, int, const bf16_t*, int, const bf16_t*, int, void*, const int*, int, int, int,
                          int, int, float, int, const float*, int, int);

struct Case { std::vector<int> lengths; int heads, kvHeads, qkDim, vDim, window; bool sinks, unaligned; };

template <typename E, typename KV>
static void runBlocks(E e, int threadCount, int blocks, const float* q, int qs, const KV* k, int ks, const KV* v, int vs,
                      void* out, const int* starts, int sequences, int heads, int kvHeads, int qkDim, int vDim,
                      float scale, int window, const float* sinks, int vec, int outBf16) {
    gridDim.x = blocks; blockDim.x = threadCount;
    for (int b = 0; b < blocks; b++) {
        blockBarrier = std::make_unique<std::barrier<>>(threadCount);
        for (int w = 0; w < threadCount / 32; w++) warpBarrier[w] = std::make_unique<std::barrier<>>(32);
        std::vector<std::thread> threads;
        for (int t = 0; t < threadCount; t++) {
            threads.emplace_back([=] {
                threadIdx.x = t; blockIdx.x = b;
                e(q, qs, k, ks, v, vs, out, starts, sequences, heads, kvHeads, qkDim, vDim, scale, window, sinks, vec,
                  outBf16);
            });
        }
        for (auto& th : threads) th.join();
    }
}

int main() {
    std::vector<Case> cases = {
        {{1}, 4, 4, 128, 128, 0, false, false},
        {{37, 1, 20}, 8, 1, 64, 64, 16, true, false},
        {{1, 17, 63, 64, 65, 200}, 4, 2, 128, 128, 0, false, false},
        {{1, 17, 63, 64, 65, 200}, 2, 2, 64, 64, 0, true, false},
        {{200, 65, 130}, 4, 2, 128, 128, 100, false, false},
        {{130, 64, 300}, 2, 1, 64, 64, 128, true, false},
        {{65, 130, 17}, 2, 2, 192, 128, 0, false, false},
        {{17, 100, 64}, 6, 3, 96, 64, 0, false, true},
    };
    std::mt19937 rng(22);
    std::normal_distribution<float> gauss(0.f, 1.f);
    bool allOk = true;
    for (const Case& c : cases) {
        int sequences = c.lengths.size(), tokens = 0;
        std::vector<int> starts(sequences + 1, 0);
        for (int s = 0; s < sequences; s++) starts[s + 1] = tokens += c.lengths[s];
        int skew = c.unaligned ? 1 : 0, offset = c.unaligned ? 1 : 4;   // elements
        int qStride = c.heads * c.qkDim + 32 + skew, kStride = c.kvHeads * c.qkDim + 16 + skew,
            vStride = c.kvHeads * c.vDim + 8 + skew;
        // Exact sizes: offset + last row's head end, so an over-read trips the address sanitizer.
        std::vector<float> q(offset + (size_t) (tokens - 1) * qStride + c.heads * c.qkDim),
            k(offset + (size_t) (tokens - 1) * kStride + c.kvHeads * c.qkDim),
            v(offset + (size_t) (tokens - 1) * vStride + c.kvHeads * c.vDim);
        for (auto* b : {&q, &k, &v}) for (auto& x : *b) x = gauss(rng);
        std::vector<float> sinks(c.heads);
        for (auto& x : sinks) x = gauss(rng) * 2;
        float scale = 1.f / std::sqrt((float) c.qkDim);
        std::vector<float> out((size_t) tokens * c.heads * c.vDim, 3.0e38f), ref(out.size());
        const float *Q = q.data() + offset, *K = k.data() + offset, *V = v.data() + offset;
        int group = c.heads / c.kvHeads;
        for (int s = 0; s < sequences; s++) {
            for (int t = starts[s]; t < starts[s + 1]; t++) {
                int lo = c.window > 0 ? std::max(starts[s], t - c.window + 1) : starts[s];
                for (int h = 0; h < c.heads; h++) {
                    int kh = h / group;
                    std::vector<double> p(t - lo + 1);
                    double mx = -INFINITY;
                    for (int j = lo; j <= t; j++) {
                        double dot = 0;
                        for (int d = 0; d < c.qkDim; d++)
                            dot += (double) Q[(size_t) t * qStride + h * c.qkDim + d] * K[(size_t) j * kStride + kh * c.qkDim + d];
                        p[j - lo] = dot * scale;
                        mx = std::max(mx, p[j - lo]);
                    }
                    if (c.sinks) mx = std::max(mx, (double) sinks[h]);
                    double sum = c.sinks ? std::exp(sinks[h] - mx) : 0;
                    for (auto& x : p) { x = std::exp(x - mx); sum += x; }
                    for (int d = 0; d < c.vDim; d++) {
                        double acc = 0;
                        for (int j = lo; j <= t; j++) acc += p[j - lo] * V[(size_t) j * vStride + kh * c.vDim + d];
                        ref[((size_t) t * c.heads + h) * c.vDim + d] = (float) (acc / sum);
                    }
                }
            }
        }
        bool vec = ((uintptr_t) Q % 16 == 0) && ((uintptr_t) K % 16 == 0) && ((uintptr_t) V % 16 == 0)
                   && (qStride | kStride | vStride | c.qkDim | c.vDim) % 4 == 0;
        // The bf16kv variant's inputs: K [tokens, kvHeads·qkDim] and V [tokens, kvHeads·vDim], packed BF16 (as
        // CudaOps's to_bf16_rows), exact sizes.
        int kWidth = c.kvHeads * c.qkDim, vWidth = c.kvHeads * c.vDim;
        std::vector<bf16_t> kb((size_t) tokens * kWidth), vb((size_t) tokens * vWidth);
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < kWidth; i++) kb[(size_t) t * kWidth + i] = to_bf16(K[(size_t) t * kStride + i]);
            for (int i = 0; i < vWidth; i++) vb[(size_t) t * vWidth + i] = to_bf16(V[(size_t) t * vStride + i]);
        }
        for (int variant = 0; variant < 4; variant++) {   // rows 64 / 128 (the _rows128 entry points) x f32 / bf16kv
            int rows = variant % 2 == 0 ? 64 : 128;
            bool tall = rows == 128, bf16kv = variant >= 2;
            Entry e = c.qkDim <= 64 && c.vDim <= 64 ? (tall ? flash_attention_64_rows128 : flash_attention_64)
                    : c.qkDim <= 128 && c.vDim <= 128 ? (tall ? flash_attention_128_rows128 : flash_attention_128)
                    : (tall ? flash_attention_192_128_rows128 : flash_attention_192_128);
            Bf16Entry eb = c.qkDim <= 64 && c.vDim <= 64
                    ? (tall ? flash_attention_64_rows128_bf16kv : flash_attention_64_bf16kv)
                    : c.qkDim <= 128 && c.vDim <= 128
                    ? (tall ? flash_attention_128_rows128_bf16kv : flash_attention_128_bf16kv)
                    : (tall ? flash_attention_192_128_rows128_bf16kv : flash_attention_192_128_bf16kv);
            std::fill(out.begin(), out.end(), 3.0e38f);
            int blocks = (tokens / rows + sequences) * c.heads;
            auto run = [&](void* into, int outBf16) {
                if (bf16kv) {
                    runBlocks(eb, rows * 2, blocks, Q, qStride, kb.data(), kWidth, vb.data(), vWidth, into,
                              starts.data(), sequences, c.heads, c.kvHeads, c.qkDim, c.vDim, scale, c.window,
                              c.sinks ? sinks.data() : nullptr, 0, outBf16);
                } else {
                    runBlocks(e, rows * 2, blocks, Q, qStride, K, kStride, V, vStride, into, starts.data(),
                              sequences, c.heads, c.kvHeads, c.qkDim, c.vDim, scale, c.window,
                              c.sinks ? sinks.data() : nullptr, vec, outBf16);
                }
            };
            run(out.data(), 0);
            if (variant == 0 || variant == 3) {   // 64 rows f32 K/V, 128 rows bf16kv (the default)
                std::vector<bf16_t> outB(out.size(), 0x7F7F);
                run(outB.data(), 1);
                size_t differ = 0;
                for (size_t i = 0; i < out.size(); i++) differ += outB[i] != to_bf16(out[i]);
                bool same = differ == 0;
                allOk &= same;
                printf("%s BF16 output rows: %zu of %zu differ from to_bf16 of the F32 rows\n", same ? "ok  " : "FAIL",
                       differ, out.size());
            }
            double num = 0, den = 0, worst = 0;
            int worstRow = -1;
            for (int r = 0; r < tokens * c.heads; r++) {
                double rn = 0, rd = 0;
                for (int d = 0; d < c.vDim; d++) {
                    double a = out[(size_t) r * c.vDim + d], b = ref[(size_t) r * c.vDim + d];
                    rn += (a - b) * (a - b);
                    rd += b * b;
                }
                num += rn; den += rd;
                double e2 = std::sqrt(rn / std::max(rd, 1e-30));
                if (!(e2 <= worst)) { worst = e2; worstRow = r; }
            }
            double err = std::sqrt(num / den);
            bool ok = err < 1e-2 && worst < 5e-2;
            allOk &= ok;
            std::string lens;
            for (int l : c.lengths) lens += std::to_string(l) + " ";
            printf("%s %-6s %3d rows [%s] %d/%d qk %d v %d window %d%s%s vec %d: rel.err %.2e, worst row %.2e (row %d)\n",
                   ok ? "ok  " : "FAIL", bf16kv ? "bf16kv" : "f32", rows, lens.c_str(), c.heads, c.kvHeads, c.qkDim, c.vDim, c.window,
                   c.sinks ? " sinks" : "", c.unaligned ? " unaligned" : "", vec, err, worst, worstRow);
        }
    }
    return allOk ? 0 : 1;
}
