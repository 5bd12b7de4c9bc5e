// CPU emulation of the CUDA features kernels.cu's flash attention uses (scripts/check-flash-attention.sh): one block
// at a time, each of its threads a std::thread, __syncthreads a block barrier, warp collectives (shuffles, and in
// emulated_ptx.h mma.sync and ldmatrix) through a per-warp exchange; __shared__ arrays are statics (one block at a time);
// cp.async (emulated_ptx.h) queues per thread and lands at the wait_group that must wait for it.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <memory>
#include <thread>
#include <vector>

struct dim3e { unsigned x = 0, y = 0, z = 0; };
thread_local dim3e threadIdx, blockIdx;
dim3e gridDim, blockDim;

#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

static std::unique_ptr<std::barrier<>> blockBarrier;
static std::unique_ptr<std::barrier<>> warpBarrier[32];
static void __syncthreads() { blockBarrier->arrive_and_wait(); }

static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }

// Per-warp exchange area: lanes write, barrier, lanes read, barrier.
struct WarpExchange {
    float f[32];
    unsigned u[32][6];
    float c[32][4];
    const void* p[32];
};
static WarpExchange exchange[32];
static inline int laneId() { return threadIdx.x % 32; }
static inline int warpId() { return threadIdx.x / 32; }
static inline void warpSync() { warpBarrier[warpId()]->arrive_and_wait(); }

static float __shfl_xor_sync(unsigned, float v, int o) {
    WarpExchange& x = exchange[warpId()];
    x.f[laneId()] = v;
    warpSync();
    float r = x.f[laneId() ^ o];
    warpSync();
    return r;
}

static inline float bf16f(unsigned short b) { return __uint_as_float(((unsigned) b) << 16); }
static inline float lo16(unsigned r) { return bf16f((unsigned short) (r & 0xFFFF)); }
static inline float hi16(unsigned r) { return bf16f((unsigned short) (r >> 16)); }
