// kernels.cu's PTX helpers (fa_pack, fa_mma, fa_ldmatrix4) emulated by the PTX ISA's fragment layouts, the table in
// kernels.cu: extract_flash_kernel.py puts this file in their place. The products in float from the BF16 operands.
__device__ __forceinline__ unsigned int fa_pack(float lo, float hi) {
    return (unsigned int) to_bf16(lo) | ((unsigned int) to_bf16(hi) << 16);
}

__device__ __forceinline__ void fa_mma(float* d, const unsigned int* a, unsigned int b0, unsigned int b1) {
    WarpExchange& x = exchange[warpId()];
    int lane = laneId();
    for (int i = 0; i < 4; i++) x.u[lane][i] = a[i];
    x.u[lane][4] = b0; x.u[lane][5] = b1;
    for (int i = 0; i < 4; i++) x.c[lane][i] = d[i];
    warpSync();
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        const unsigned* r = x.u[l];
        A[g][2 * t] = lo16(r[0]); A[g][2 * t + 1] = hi16(r[0]);
        A[g + 8][2 * t] = lo16(r[1]); A[g + 8][2 * t + 1] = hi16(r[1]);
        A[g][2 * t + 8] = lo16(r[2]); A[g][2 * t + 9] = hi16(r[2]);
        A[g + 8][2 * t + 8] = lo16(r[3]); A[g + 8][2 * t + 9] = hi16(r[3]);
        B[2 * t][g] = lo16(r[4]); B[2 * t + 1][g] = hi16(r[4]);
        B[2 * t + 8][g] = lo16(r[5]); B[2 * t + 9][g] = hi16(r[5]);
        C[g][2 * t] = x.c[l][0]; C[g][2 * t + 1] = x.c[l][1];
        C[g + 8][2 * t] = x.c[l][2]; C[g + 8][2 * t + 1] = x.c[l][3];
    }
    warpSync();
    int g = lane / 4, t = lane % 4;
    int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int e = 0; e < 4; e++) {
        float acc = C[rows[e]][cols[e]];
        for (int kk = 0; kk < 16; kk++) acc += A[rows[e]][kk] * B[kk][cols[e]];
        d[e] = acc;
    }
}

template <bool TRANS>
__device__ __forceinline__ void fa_ldmatrix4(unsigned int* r, const bf16_t* p) {
    WarpExchange& x = exchange[warpId()];
    int lane = laneId();
    if (((uintptr_t) p & 15) != 0) { fprintf(stderr, "ldmatrix: row address not 16-byte aligned\n"); abort(); }
    x.p[lane] = p;
    warpSync();
    int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; i++) {
        const bf16_t* row[8];
        for (int j = 0; j < 8; j++) row[j] = (const bf16_t*) x.p[8 * i + j];
        unsigned lo, hi;
        if (!TRANS) { lo = row[g][2 * t]; hi = row[g][2 * t + 1]; }
        else { lo = row[2 * t][g]; hi = row[2 * t + 1][g]; }
        r[i] = lo | (hi << 16);
    }
    warpSync();
}

// The bf16kv variant's dynamic shared memory: one static area (one block at a time), as large as the largest launch
// (CudaOps.flashSharedBytes of the 192/128 heads: 86,016 bytes).
__device__ __forceinline__ unsigned char* fa_dynamic_shared() {
    alignas(16) static unsigned char smem[96 * 1024];
    return smem;
}

// cp.async with its groups: a copy is queued at issue (alignment checked) and lands only when a wait_group lets at
// most N of this thread's committed groups stay in flight, the latest the hardware may land it; so a wait that waits
// for too little leaves stale bytes in the buffer and the check fails, where a copy at issue would hide it.
struct FaCopy { void* dst; const void* src; };
thread_local std::vector<FaCopy> faOpenGroup;
thread_local std::vector<std::vector<FaCopy>> faGroupsInFlight;

__device__ __forceinline__ void fa_cp_async16(void* dst, const void* src) {
    if ((((uintptr_t) dst | (uintptr_t) src) & 15) != 0) {
        fprintf(stderr, "cp.async: address not 16-byte aligned\n");
        abort();
    }
    faOpenGroup.push_back({dst, src});
}

__device__ __forceinline__ void fa_cp_async_commit() {
    faGroupsInFlight.push_back(std::move(faOpenGroup));
    faOpenGroup.clear();
}

template <int PENDING>
__device__ __forceinline__ void fa_cp_async_wait() {
    while (faGroupsInFlight.size() > PENDING) {
        for (const FaCopy& c : faGroupsInFlight.front()) std::memcpy(c.dst, c.src, 16);
        faGroupsInFlight.erase(faGroupsInFlight.begin());
    }
}
