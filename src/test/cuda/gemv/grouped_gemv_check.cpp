// kernels.cu's grouped small-row products (grouped_gemv, grouped_gemv_bf16) run on the CPU by the warp emulator of
// the flash check (../flash/emulation_prelude.h: a block at a time, a std::thread per thread, shuffles through a
// per-warp exchange) against the products in double, as CudaGroupedProducts launches them: a table of the experts'
// rows in pieces of at most 8, a block per (32 output rows, piece), dynamic shared memory of the call's most rows ×
// min(in, 2048) BF16 (a buffer of exactly that size, so that a read past it trips the address sanitizer, as do W, x
// and y, each exactly sized). Cases: every row count 1-8 with an empty expert between, two tiles of input columns
// (in 2072), a partial block of output rows, widths not a multiple of 8 and inputs not 16-byte aligned (the scalar
// path), experts of more than 8 rows in pieces. F32 outputs within 1e-5 of Σ|w·x| of the double sum (the F32
// summation's bound: in/32 + 5 additions a product); BF16 outputs bit for bit to_bf16 of the F32 ones. Exit 1 on a
// failure. The same for grouped_gemv_routed(_bf16), the counts on the device (CudaGroupedProducts.routed): counts
// 0..20 (pieces of at most 8 one after the other in a block), masked experts, the weights' addresses from a table,
// and the masked tokens' slots after the last expert's rows never written. Built and run by
// scripts/check-grouped-gemv.sh.
#include <random>
#include <string>
#include "emulation_prelude.h"
#include "grouped_gemv_kernel.h"   // written by extract_grouped_gemv.py

typedef void (*Entry)(const long long*, int, int, int, int, int);
typedef void (*RoutedF32)(const int*, const long long*, const bf16_t*, float*, int, int);
typedef void (*RoutedBf16)(const int*, const long long*, const bf16_t*, bf16_t*, int, int);

struct Case { std::vector<int> rows; int out, in, skew; };   // skew: x starts this many BF16 past an aligned address

// Runs body(bx, by) as every thread of each block of a (blocks of 32 output rows, gridY) grid, one block at a time,
// with dynamic shared memory of exactly `rows` × min(in, GEMV_TILE) BF16.
template <typename Body>
static void run_grid(int out, int in, int gridY, int rows, Body body) {
    int blocksX = (out + GEMV_WARPS * GEMV_ROWS_PER_WARP - 1) / (GEMV_WARPS * GEMV_ROWS_PER_WARP);
    int threadCount = GEMV_WARPS * WARP;
    std::vector<unsigned char> shared((size_t) rows * std::min(in, GEMV_TILE) * 2);
    gemvShared = shared.data();
    gridDim.x = blocksX; gridDim.y = gridY; blockDim.x = threadCount;
    for (int by = 0; by < gridY; by++) {
        for (int bx = 0; bx < blocksX; bx++) {
            blockBarrier = std::make_unique<std::barrier<>>(threadCount);
            for (int w = 0; w < GEMV_WARPS; w++) warpBarrier[w] = std::make_unique<std::barrier<>>(32);
            std::vector<std::thread> threads;
            for (int t = 0; t < threadCount; t++) {
                threads.emplace_back([=] {
                    threadIdx.x = t; blockIdx.x = bx; blockIdx.y = by;
                    body();
                });
            }
            for (auto& th : threads) th.join();
        }
    }
}

static void launch(Entry e, const long long* table, int problems, int out, int in, int vec, int most) {
    run_grid(out, in, problems, most, [=] { e(table, problems, 0, out, in, vec); });
}

// As CudaGroupedProducts.routed launches it: a block row per expert, shared memory for min(most, GEMV_MAX_ROWS) rows.
template <typename Kernel, typename T>
static void launchRouted(Kernel k, const int* expertStart, const long long* weights, int experts, const bf16_t* x,
                         T* y, int out, int in, int most) {
    run_grid(out, in, experts, std::min(most, GEMV_MAX_ROWS), [=] { k(expertStart, weights, x, y, out, in); });
}

// y (F32) within 1e-5 of Σ|w·x| of the double sums and yb (BF16) bit for bit to_bf16 of y, over the experts' rows in
// the grouped order; the `past` rows after them (a masked token's slots) still hold their poison. Prints one line.
static bool verify(const char* kernel, const Case& c, const std::vector<bf16_t>& w, const bf16_t* x,
                   const std::vector<float>& y, const std::vector<bf16_t>& yb, int vec, int past) {
    double worst = 0;
    size_t bad = 0, differ = 0, written = 0;
    int experts = c.rows.size(), row = 0;
    for (int p = 0; p < experts; row += c.rows[p], p++) {
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
    for (size_t at = (size_t) row * c.out; at < (size_t) (row + past) * c.out; at++) {
        written += !std::isnan(y[at]) || yb[at] != 0x7FC1;
    }
    bool ok = bad == 0 && differ == 0 && written == 0;
    std::string rows;
    for (int r : c.rows) rows += std::to_string(r) + " ";
    printf("%s %s rows [%s] out %d in %d%s vec %d: worst |err|/sum|w.x| %.2e, %zu beyond 1e-5, %zu BF16 outputs "
           "not to_bf16 of the F32 ones, %zu masked slots' values written\n", ok ? "ok  " : "FAIL", kernel,
           rows.c_str(), c.out, c.in, c.skew ? " unaligned x" : "", vec, worst, bad, differ, written);
    return ok;
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
        allOk &= verify("grouped_gemv", c, w, x, y, yb, vec, 0);
    }
    // grouped_gemv_routed(_bf16): the counts read from expertStart on the device, 0..20 rows an expert (up to three
    // pieces of GEMV_MAX_ROWS), masked experts of 0 rows, `past` slots after the last expert's rows (a masked token's)
    // that no block writes, the weights' addresses from a table (experts stored in another order).
    std::vector<Case> routed = {
        {{20, 0, 9, 1, 16}, 40, 2072, 0},
        {{0, 13, 2, 0, 7}, 70, 96, 0},
        {{4, 0, 11}, 33, 100, 0},
        {{9, 2}, 16, 64, 1},
        {{0, 0, 0}, 16, 64, 0},
    };
    for (const Case& c : routed) {
        int experts = c.rows.size(), past = 3, most = 0;
        std::vector<int> start(experts + 1, 0);
        for (int e = 0; e < experts; e++) {
            start[e + 1] = start[e] + c.rows[e];
            most = std::max(most, c.rows[e]);
        }
        int total = start[experts];
        std::vector<bf16_t> stored((size_t) experts * c.out * c.in), w((size_t) experts * c.out * c.in);
        std::vector<bf16_t> xs(c.skew + (size_t) (total + past) * c.in);
        for (auto& v : stored) v = to_bf16(gauss(rng));
        for (auto& v : xs) v = to_bf16(gauss(rng));
        const bf16_t* x = xs.data() + c.skew;
        std::vector<long long> weights(experts);
        for (int e = 0; e < experts; e++) {
            int at = (e * 7 + 3) % experts;   // expert e's matrix is stored at slot `at`
            weights[e] = (long long) (stored.data() + (size_t) at * c.out * c.in);
            std::copy_n(stored.begin() + (size_t) at * c.out * c.in, (size_t) c.out * c.in,
                        w.begin() + (size_t) e * c.out * c.in);
        }
        std::vector<float> y((size_t) (total + past) * c.out, NAN);
        std::vector<bf16_t> yb((size_t) (total + past) * c.out, 0x7FC1);
        launchRouted((RoutedF32) grouped_gemv_routed, start.data(), weights.data(), experts, x, y.data(), c.out, c.in,
                     std::max(most, 1));
        launchRouted((RoutedBf16) grouped_gemv_routed_bf16, start.data(), weights.data(), experts, x, yb.data(),
                     c.out, c.in, std::max(most, 1));
        int vec = c.in % 8 == 0 && c.skew == 0;
        allOk &= verify("grouped_gemv_routed", c, w, x, y, yb, vec, past);
    }
    return allOk ? 0 : 1;
}
