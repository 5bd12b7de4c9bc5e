// kernels.cu's grouped small-row products (grouped_gemv, grouped_gemv_bf16) run on the CPU by the warp emulator of
// the flash check (../flash/emulation_prelude.h: a block at a time, a std::thread per thread, shuffles through a
// per-warp exchange) against the products in double, as CudaGroupedProducts launches them: a table of the experts'
// rows in pieces of at most 8, a block per (32 output rows, piece), dynamic shared memory of the call's most rows ×
// min(in, 2048) BF16 (a buffer of exactly that size, so that a read past it trips the address sanitizer, as do W, x
// and y, each exactly sized). Cases: every row count 1-8 with an empty expert between, two tiles of input columns
// (in 2072), a partial block of output rows, widths not a multiple of 8 and inputs not 16-byte aligned (the scalar
// path), experts of more than 8 rows in pieces. F32 outputs within 1e-5 of Σ|w·x| of the double sum (the F32
// summation's bound: in/32 + 5 additions a product); BF16 outputs bit for bit to_bf16 of the F32 ones. Exit 1 on a
// failure. Built and run by scripts/check-grouped-gemv.sh.
#include <random>
#include <string>
#include "emulation_prelude.h"
#include "grouped_gemv_kernel.h"   // written by extract_grouped_gemv.py

typedef void (*Entry)(const long long*, int, int, int, int, int);

struct Case { std::vector<int> rows; int out, in, skew; };   // skew: x starts this many BF16 past an aligned address

static void launch(Entry e, const long long* table, int problems, int out, int in, int vec, int most) {
    int blocksX = (out + GEMV_WARPS * GEMV_ROWS_PER_WARP - 1) / (GEMV_WARPS * GEMV_ROWS_PER_WARP);
    int threadCount = GEMV_WARPS * WARP;
    std::vector<unsigned char> shared((size_t) most * std::min(in, GEMV_TILE) * 2);
    gemvShared = shared.data();
    gridDim.x = blocksX; gridDim.y = problems; blockDim.x = threadCount;
    for (int by = 0; by < problems; by++) {
        for (int bx = 0; bx < blocksX; bx++) {
            blockBarrier = std::make_unique<std::barrier<>>(threadCount);
            for (int w = 0; w < GEMV_WARPS; w++) warpBarrier[w] = std::make_unique<std::barrier<>>(32);
            std::vector<std::thread> threads;
            for (int t = 0; t < threadCount; t++) {
                threads.emplace_back([=] {
                    threadIdx.x = t; blockIdx.x = bx; blockIdx.y = by;
                    e(table, problems, 0, out, in, vec);
                });
            }
            for (auto& th : threads) th.join();
        }
    }
}

int main() {
    std::vector<Case> cases = {
        {{1, 2, 0, 3, 4, 5, 6, 7, 8}, 40, 2072, 0},
        {{2, 0, 1}, 70, 96, 0},
        {{3, 8, 1}, 33, 100, 0},
        {{2, 5}, 16, 64, 1},
        {{1}, 1, 8, 0},
        {{11, 0, 17}, 40, 64, 0},
    };
    std::mt19937 rng(22);
    std::normal_distribution<float> gauss(0.f, 1.f);
    bool allOk = true;
    for (const Case& c : cases) {
        // The problems: each expert's rows in pieces of at most GEMV_MAX_ROWS (as CudaGroupedProducts.gemv).
        int experts = c.rows.size(), total = 0, pieces = 0, most = 0;
        for (int r : c.rows) {
            total += r;
            pieces += (r + GEMV_MAX_ROWS - 1) / GEMV_MAX_ROWS;
            most = std::max(most, std::min(r, GEMV_MAX_ROWS));
        }
        std::vector<bf16_t> w((size_t) experts * c.out * c.in), xs(c.skew + (size_t) total * c.in);
        for (auto& v : w) v = to_bf16(gauss(rng));
        for (auto& v : xs) v = to_bf16(gauss(rng));
        const bf16_t* x = xs.data() + c.skew;
        std::vector<float> y((size_t) total * c.out, NAN);
        std::vector<bf16_t> yb((size_t) total * c.out, 0x7FC1);
        // The table of the pieces: W, x, y, rows (as CudaGroupedProducts.gemv uploads it).
        std::vector<long long> table(4 * pieces), tableB(4 * pieces);
        for (int p = 0, i = 0, row = 0; p < experts; row += c.rows[p], p++) {
            for (int first = 0; first < c.rows[p]; first += GEMV_MAX_ROWS, i++) {
                table[i] = tableB[i] = (long long) (w.data() + (size_t) p * c.out * c.in);
                table[pieces + i] = tableB[pieces + i] = (long long) (x + (size_t) (row + first) * c.in);
                table[2 * pieces + i] = (long long) (y.data() + (size_t) (row + first) * c.out);
                tableB[2 * pieces + i] = (long long) (yb.data() + (size_t) (row + first) * c.out);
                table[3 * pieces + i] = tableB[3 * pieces + i] = std::min(GEMV_MAX_ROWS, c.rows[p] - first);
            }
        }
        bool aligned = true;
        for (int i = 0; i < pieces; i++) aligned &= ((table[i] | table[pieces + i]) & 15) == 0;
        int vec = c.in % 8 == 0 && aligned ? 1 : 0;
        launch(grouped_gemv, table.data(), pieces, c.out, c.in, vec, most);
        launch(grouped_gemv_bf16, tableB.data(), pieces, c.out, c.in, vec, most);
        double worst = 0;
        size_t bad = 0, differ = 0;
        for (int p = 0, row = 0; p < experts; row += c.rows[p], p++) {
            for (int t = 0; t < c.rows[p]; t++) {
                for (int o = 0; o < c.out; o++) {
                    double sum = 0, mag = 0;
                    for (int k = 0; k < c.in; k++) {
                        double prod = (double) bf16f(w[((size_t) p * c.out + o) * c.in + k])
                                * bf16f(x[(size_t) (row + t) * c.in + k]);
                        sum += prod;
                        mag += std::fabs(prod);
                    }
                    size_t at = (size_t) (row + t) * c.out + o;
                    double err = std::fabs(y[at] - sum) / std::max(mag, 1e-30);
                    if (!(err <= 1e-5)) bad++;
                    if (!(err <= worst)) worst = err;
                    differ += yb[at] != to_bf16(y[at]);
                }
            }
        }
        bool ok = bad == 0 && differ == 0;
        allOk &= ok;
        std::string rows;
        for (int r : c.rows) rows += std::to_string(r) + " ";
        printf("%s rows [%s] out %d in %d%s vec %d: worst |err|/sum|w.x| %.2e, %zu beyond 1e-5, %zu BF16 outputs "
               "not to_bf16 of the F32 ones\n", ok ? "ok  " : "FAIL", rows.c_str(), c.out, c.in,
               c.skew ? " unaligned x" : "", vec, worst, bad, differ);
    }
    return allOk ? 0 : 1;
}
