// kernels.cu's MoE epilogue kernels run on the CPU (../flash/emulation_prelude.h, emulated_intrinsics.h): the scalar
// one (moe_epilogue_of, 256 threads a block as CudaOps launches it) on every case and the vector one
// (moe_epilogue_vector_of, 128 threads) on those CudaOps gives it (k <= 8, widths multiple of 4), against HostOps's
// unfused sequence written out here (combineSlots, slotNorms, turns, the shared rows added, addScaled, nonFinite): x
// bit for bit (any NaN for any NaN), the finite flag exact, each norm within 1e-6 relative (0 where HostOps's is 0, not
// finite where it is not) and the turns within 1e-6 (relative L2 where HostOps's are finite, as CudaOpsTest); F32 and
// BF16 rows, masked slots, k past the 8 slots held in registers, widths not multiples of 4 or 32, shared rows, m 1 and
// 0.22, watched or not, and rows of Gaussians, of values whose squares underflow or overflow a float, holding zeros,
// a NaN and an infinity. Inputs sized exactly (an over-read trips the address sanitizer). Exit 1 on a failure. Built
// and run by scripts/check-moe-epilogue.sh.
#include <random>
#include <string>
#include "emulation_prelude.h"
#include "emulated_intrinsics.h"
#include "moe_epilogue_kernel.h"   // written by extract_moe_epilogue.py

template <typename T>
using Entry = void (*)(const T*, const int*, const float*, int, int, int, const float*, float*, float, float*, float*,
                       int*, int);

template <typename T>
static void runBlocks(Entry<T> e, int threadCount, const T* rows, const int* slotRow, const float* weight, int n,
                      int k, int width, const float* shared, float* x, float m, float* norms, float* turns,
                      int* flags) {
    gridDim.x = n;
    blockDim.x = threadCount;
    for (int b = 0; b < n; b++) {
        blockBarrier = std::make_unique<std::barrier<>>(threadCount);
        for (int w = 0; w < threadCount / 32; w++) warpBarrier[w] = std::make_unique<std::barrier<>>(32);
        std::vector<std::thread> threads;
        for (int t = 0; t < threadCount; t++) {
            threads.emplace_back([=] {
                threadIdx.x = t;
                blockIdx.x = b;
                e(rows, slotRow, weight, n, k, width, shared, x, m, norms, turns, flags, 1);
            });
        }
        for (auto& th : threads) th.join();
    }
}

enum Values { GAUSSIAN, TINY, HUGE_VALUES, ZEROS, NON_FINITE };
static const char* VALUE_NAMES[] = {"gaussian", "tiny (squares under a float's range)", "huge (squares over it)",
                                    "zero rows and quads", "a NaN and an infinity"};

struct Inputs {
    int n, k, width;
    std::vector<float> rows;      // the expert rows' values (BF16 ones widened)
    std::vector<bf16_t> bits;     // the same rows as BF16
    std::vector<int> slotRow;
    std::vector<float> weight, x, shared;
    float m;
};

struct Outputs {
    std::vector<float> x, norms, turns;
    int flag;
};

static Inputs inputs(std::mt19937& rng, int n, int k, int width, bool bf16, bool shared, float m, Values values) {
    std::normal_distribution<float> gauss(0.f, 1.f);
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    Inputs in{n, k, width};
    int slots = n * k;
    in.slotRow.resize(slots);
    in.weight.resize(slots);
    for (int i = 0; i < slots; i++) {   // as CudaOpsTest.randomSlots: a sixth masked
        in.slotRow[i] = rng() % 6 == 0 ? -1 : (int) (rng() % slots);
        in.weight[i] = unit(rng);
    }
    float scale = values == TINY ? 1e-25f : values == HUGE_VALUES ? 1e25f : 1.f;
    in.rows.resize((size_t) slots * width);
    for (auto& v : in.rows) v = gauss(rng) * scale;
    if (values == ZEROS) {   // every slot's first row whole, and every third quad of the others
        for (int i = 0; i < slots; i++) in.slotRow[i] = i % 2 == 0 ? 0 : in.slotRow[i];
        for (int c = 0; c < width; c++) in.rows[c] = 0.f;
        for (size_t i = 0; i < in.rows.size(); i++) if (i / 4 % 3 == 0) in.rows[i] = 0.f;
    }
    if (values == NON_FINITE) {   // in rows that the first and the last slot read
        in.slotRow[0] = 0;
        in.slotRow[slots - 1] = slots - 1;
        in.rows[width / 2] = NAN;
        in.rows[(size_t) (slots - 1) * width + 3] = -INFINITY;
    }
    in.bits.resize(in.rows.size());
    for (size_t i = 0; i < in.rows.size(); i++) {
        if (bf16) {   // any BF16 value will do: the top half of the float
            in.bits[i] = (bf16_t) (__float_as_uint(in.rows[i]) >> 16);
            in.rows[i] = __uint_as_float(((unsigned) in.bits[i]) << 16);
        }
    }
    in.x.resize((size_t) n * width);
    for (auto& v : in.x) v = gauss(rng);
    if (shared) {
        in.shared.resize((size_t) n * width);
        for (auto& v : in.shared) v = gauss(rng);
    }
    in.m = m;
    return in;
}

// HostOps's moeEpilogue: the unfused operations in their order, in Java's arithmetic (float operations unfused).
static Outputs reference(const Inputs& in, bool watched) {
    int n = in.n, k = in.k, width = in.width;
    long long count = (long long) n * width;
    std::vector<float> r(count);
    for (int t = 0; t < n; t++) {
        for (int c = 0; c < width; c++) {
            float acc = 0;
            for (int s = 0; s < k; s++) {
                int row = in.slotRow[t * k + s];
                if (row >= 0) acc = acc + in.weight[t * k + s] * in.rows[(size_t) row * width + c];
            }
            r[(size_t) t * width + c] = acc;
        }
    }
    Outputs out{in.x, {}, {}, 0};
    if (watched) {
        for (int i = 0; i < n * k; i++) {
            double sq = 0;
            int row = in.slotRow[i];
            if (row >= 0) {
                for (int c = 0; c < width; c++) {
                    double v = in.rows[(size_t) row * width + c];
                    sq += v * v;
                }
            }
            out.norms.push_back((float) std::sqrt(sq));
        }
        for (int t = 0; t < n; t++) {
            double hh = 0, hy = 0, yy = 0;
            for (int c = 0; c < width; c++) {
                double hv = in.x[(size_t) t * width + c], y = hv + r[(size_t) t * width + c];
                hh += hv * hv;
                hy += hv * y;
                yy += y * y;
            }
            out.turns.push_back(hh == 0 || yy == 0 ? 0.f : (float) std::max(0.0, 1 - hy / std::sqrt(hh * yy)));
        }
    }
    if (!in.shared.empty()) for (long long i = 0; i < count; i++) r[i] = r[i] + in.shared[i];
    for (long long i = 0; i < count; i++) out.x[i] = in.m == 1.f ? out.x[i] + r[i] : out.x[i] + in.m * r[i];
    for (long long i = 0; i < count; i++) {
        if (!std::isfinite(out.x[i])) {
            out.flag = (int) (2 * (count - i)) + (std::isnan(out.x[i]) ? 1 : 0);
            break;
        }
    }
    return out;
}

static Outputs run(const Inputs& in, bool bf16, bool vector, bool watched) {
    static const Entry<float> F32[2][2] = {{moe_epilogue, moe_epilogue_watched},
                                           {moe_epilogue_vector, moe_epilogue_vector_watched}};
    static const Entry<bf16_t> BF16[2][2] = {{moe_epilogue_bf16, moe_epilogue_watched_bf16},
                                             {moe_epilogue_vector_bf16, moe_epilogue_vector_watched_bf16}};
    int threads = vector ? 128 : 256;
    Outputs out{in.x, std::vector<float>(watched ? in.n * in.k : 0, 3.0e38f),
                std::vector<float>(watched ? in.n : 0, 3.0e38f), 0};
    std::vector<int> flags(3, 0);
    float* norms = watched ? out.norms.data() : nullptr;
    float* turns = watched ? out.turns.data() : nullptr;
    const float* shared = in.shared.empty() ? nullptr : in.shared.data();
    if (bf16) {
        runBlocks(BF16[vector][watched], threads, in.bits.data(), in.slotRow.data(), in.weight.data(), in.n, in.k,
                  in.width, shared, out.x.data(), in.m, norms, turns, flags.data());
    } else {
        runBlocks(F32[vector][watched], threads, in.rows.data(), in.slotRow.data(), in.weight.data(), in.n, in.k,
                  in.width, shared, out.x.data(), in.m, norms, turns, flags.data());
    }
    out.flag = flags[1];
    return out;
}

// The failures of `got` against `want`, one clause each ("" when none), and the figures of the comparison.
static std::string compare(const Outputs& got, const Outputs& want, std::string& figures) {
    std::string failed;
    size_t differ = 0;
    for (size_t i = 0; i < want.x.size(); i++) {
        bool bothNaN = std::isnan(got.x[i]) && std::isnan(want.x[i]);
        if (__float_as_uint(got.x[i]) != __float_as_uint(want.x[i]) && !bothNaN) differ++;
    }
    if (differ != 0) failed += " x differs";
    if (got.flag != want.flag) failed += " flag " + std::to_string(got.flag) + " for " + std::to_string(want.flag);
    double worstNorm = 0;
    for (size_t i = 0; i < want.norms.size(); i++) {
        float g = got.norms[i], h = want.norms[i];
        if (!std::isfinite(h)) {
            if (std::isfinite(g)) failed += " norm " + std::to_string(i) + " finite";
        } else {
            double e = h == 0 ? (g == 0 ? 0 : 1) : std::fabs((double) g - h) / h;
            worstNorm = std::max(worstNorm, e);
        }
    }
    if (!(worstNorm <= 1e-6)) failed += " norms";
    double num = 0, den = 0;
    for (size_t i = 0; i < want.turns.size(); i++) {
        float g = got.turns[i], h = want.turns[i];
        if (!std::isfinite(h)) {
            if (std::isfinite(g) && !(std::isnan(h) && g == 0)) failed += " turn " + std::to_string(i);
        } else {
            num += ((double) g - h) * ((double) g - h);
            den += (double) h * h;
        }
    }
    double turnErr = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
    if (!(turnErr <= 1e-6)) failed += " turns";
    char line[160];
    snprintf(line, sizeof line, "x %zu of %zu differ, flag %d, norms worst %.1e, turns %.1e", differ, want.x.size(),
             got.flag, worstNorm, turnErr);
    figures = line;
    return failed;
}

int main() {
    struct Shape { int n, k, width; };
    std::vector<Shape> shapes = {{1, 4, 2048}, {5, 8, 1024}, {3, 1, 768}, {3, 12, 1000}, {4, 4, 1002}, {2, 3, 4},
                                 {2, 8, 7168}};
    std::mt19937 rng(22);
    bool allOk = true;
    int checks = 0;
    auto check = [&](Shape s, bool bf16, int variant, Values values) {
        bool shared = (variant & 1) != 0, watched = (variant & 2) != 0;
        float m = variant == 1 ? 0.22f : 1.f;
        Inputs in = inputs(rng, s.n, s.k, s.width, bf16, shared, m, values);
        Outputs want = reference(in, watched);
        for (bool vector : {false, true}) {
            if (vector && (s.k > 8 || s.width % 4 != 0)) continue;   // CudaOps.vectorEpilogueTakes
            std::string figures, failed = compare(run(in, bf16, vector, watched), want, figures);
            allOk &= failed.empty();
            checks++;
            printf("%s %-6s %-4s %dx%dx%d%s%s m %.2f %s: %s%s\n", failed.empty() ? "ok  " : "FAIL",
                   vector ? "vector" : "scalar", bf16 ? "BF16" : "F32", s.n, s.k, s.width, shared ? " shared" : "",
                   watched ? " watched" : "", m, VALUE_NAMES[values], figures.c_str(), failed.c_str());
        }
    };
    for (Shape s : shapes) {
        for (bool bf16 : {false, true}) {
            for (int variant = 0; variant < 4; variant++) check(s, bf16, variant, variant == 3 ? NON_FINITE : GAUSSIAN);
        }
    }
    for (Values values : {TINY, HUGE_VALUES, ZEROS}) {
        for (bool bf16 : {false, true}) check({5, 8, 1024}, bf16, 2, values);
    }
    printf("%s: %d checks\n", allOk ? "ok" : "FAILED", checks);
    return allOk ? 0 : 1;
}
