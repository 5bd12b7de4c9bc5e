// What kernels.cu's MoE epilogue uses beyond ../flash/emulation_prelude.h (scripts/check-moe-epilogue.sh): double
// shuffles through a per-warp exchange of their own, atomicMax on an int, the _rn intrinsics as plain IEEE operations
// (the check is built with -ffp-contract=off, so nothing contracts them into an FMA), CUDA's min.
#include <atomic>

static double exchangeD[32][32];

static double __shfl_xor_sync(unsigned, double v, int o) {
    exchangeD[warpId()][laneId()] = v;
    warpSync();
    double r = exchangeD[warpId()][laneId() ^ o];
    warpSync();
    return r;
}

static int atomicMax(int* address, int value) {
    std::atomic_ref<int> a(*address);
    int old = a.load();
    while (old < value && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}

static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }
using std::min;
