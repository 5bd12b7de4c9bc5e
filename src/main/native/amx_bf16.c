/*
 * moeprune's AMX kernel: C = W · (Xhi + Xlo) for BF16 weights on Intel AMX (TDPBF16PS).
 *
 * Built into a position-independent blob of machine code (scripts/build-amx-blob.sh) that the Java runtime maps
 * executable and calls through the FFM API (io.moeprune.kernels.AmxBf16). No libc, no data sections, one entry
 * point at offset 0.
 *
 * The activations come split into two BF16 parts, hi = bf16(x) and lo = bf16(x - hi), so x = hi + lo to about
 * 2^-17 relative: BF16 × BF16 products are exact in F32 and the tiles accumulate in F32, so the result is an F32
 * matrix product up to summation order (the runtime's 1e-3 contract holds with a wide margin), at two tile
 * products per weight tile instead of one.
 *
 * Layouts (all strides in bytes):
 *   w   rows × K BF16, row r at w + r·ws (the checkpoint's own row-major weights, read in place);
 *   hi, lo  K/2 rows of T int32, row kk at + kk·bs: element t = bf16(x[2kk+1][t]) << 16 | bf16(x[2kk][t])
 *       (the VNNI pairs TDPBF16PS wants for its second operand);
 *   c   rows × T F32, row r at c + r·cs (overwritten).
 * rows and T are multiples of 16, K a multiple of 32. cfg is the 64-byte tile configuration: palette 1,
 * tiles 0-7 of 16 rows × 64 bytes.
 *
 * Tiles: 0-3 accumulate C for 2 row blocks × 2 token blocks, 4-5 hold W, 6-7 hold X.
 *
 * Loop order: K in chunks of KC columns; per chunk, every pair of token blocks sweeps all row blocks. The chunk of
 * X (KC/2 pair rows × 32 inputs × hi and lo = 32 KB) then stays in L1 while the weights stream past it once; the
 * partial sums wait in C between chunks (L2). Without the chunks, every row block re-read the whole of X from L2
 * (256 KB for K = 2048), and the kernel ran at the speed of L2.
 */
#include <immintrin.h>
#include <stdint.h>

#define KC 256 /* columns per chunk: X's chunk for 32 inputs, hi and lo, is 32 KB (L1 is 48 KB) */
#define PF 256 /* prefetch distance along a weight row, bytes: ~4 steps of k ahead of the tile loads */

/* C tiles of this block: zero for the first chunk, else the partial sums stored by the previous one. */
#define START(tile, at) do { if (first) _tile_zero(tile); else _tile_loadd(tile, at, cs); } while (0)

static inline __attribute__((always_inline)) void
block22(const char* w, long ws, const char* hi, const char* lo, long bs, char* c, long cs, long k0, long k1, int first) {
    START(0, c); START(1, c + 64); START(2, c + 16 * cs); START(3, c + 16 * cs + 64);
    for (long k = k0; k < k1; k += 32) {
        const char* a = w + 2 * k;
        long b = (k / 2) * bs;
        for (int r = 0; r < 32; r++) _mm_prefetch(a + r * ws + PF, _MM_HINT_T0);
        _tile_loadd(4, a, ws);
        _tile_loadd(5, a + 16 * ws, ws);
        _tile_loadd(6, hi + b, bs);
        _tile_loadd(7, hi + b + 64, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        _tile_loadd(6, lo + b, bs);
        _tile_loadd(7, lo + b + 64, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, cs);
    _tile_stored(1, c + 64, cs);
    _tile_stored(2, c + 16 * cs, cs);
    _tile_stored(3, c + 16 * cs + 64, cs);
}

/* One row block × two token blocks. */
static inline __attribute__((always_inline)) void
block12(const char* w, long ws, const char* hi, const char* lo, long bs, char* c, long cs, long k0, long k1, int first) {
    START(0, c); START(1, c + 64);
    for (long k = k0; k < k1; k += 32) {
        const char* a = w + 2 * k;
        long b = (k / 2) * bs;
        for (int r = 0; r < 16; r++) _mm_prefetch(a + r * ws + PF, _MM_HINT_T0);
        _tile_loadd(4, a, ws);
        _tile_loadd(6, hi + b, bs);
        _tile_loadd(7, hi + b + 64, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(6, lo + b, bs);
        _tile_loadd(7, lo + b + 64, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
    }
    _tile_stored(0, c, cs);
    _tile_stored(1, c + 64, cs);
}

/* Two row blocks × one token block. */
static inline __attribute__((always_inline)) void
block21(const char* w, long ws, const char* hi, const char* lo, long bs, char* c, long cs, long k0, long k1, int first) {
    START(0, c); START(2, c + 16 * cs);
    for (long k = k0; k < k1; k += 32) {
        const char* a = w + 2 * k;
        long b = (k / 2) * bs;
        for (int r = 0; r < 32; r++) _mm_prefetch(a + r * ws + PF, _MM_HINT_T0);
        _tile_loadd(4, a, ws);
        _tile_loadd(5, a + 16 * ws, ws);
        _tile_loadd(6, hi + b, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(2, 5, 6);
        _tile_loadd(6, lo + b, bs);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(2, 5, 6);
    }
    _tile_stored(0, c, cs);
    _tile_stored(2, c + 16 * cs, cs);
}

static inline __attribute__((always_inline)) void
block11(const char* w, long ws, const char* hi, const char* lo, long bs, char* c, long cs, long k0, long k1, int first) {
    START(0, c);
    for (long k = k0; k < k1; k += 32) {
        const char* a = w + 2 * k;
        long b = (k / 2) * bs;
        for (int r = 0; r < 16; r++) _mm_prefetch(a + r * ws + PF, _MM_HINT_T0);
        _tile_loadd(4, a, ws);
        _tile_loadd(6, hi + b, bs);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(6, lo + b, bs);
        _tile_dpbf16ps(0, 4, 6);
    }
    _tile_stored(0, c, cs);
}

void moeprune_amx_bf16(const void* cfg, const char* w, long ws, const char* hi, const char* lo, long bs,
                       char* c, long cs, long rows, long T, long K) {
    _tile_loadconfig(cfg);
    for (long k0 = 0; k0 < K; k0 += KC) {
        long k1 = K - k0 < KC ? K : k0 + KC;
        int first = k0 == 0;
        for (long t = 0; t < T; t += 32) {
            int twoTokens = T - t >= 32;
            const char* h = hi + 4 * t;
            const char* l = lo + 4 * t;
            for (long r = 0; r < rows; r += 32) {
                const char* wr = w + r * ws;
                char* cr = c + r * cs + 4 * t;
                if (rows - r >= 32) {
                    if (twoTokens) block22(wr, ws, h, l, bs, cr, cs, k0, k1, first);
                    else block21(wr, ws, h, l, bs, cr, cs, k0, k1, first);
                } else {
                    if (twoTokens) block12(wr, ws, h, l, bs, cr, cs, k0, k1, first);
                    else block11(wr, ws, h, l, bs, cr, cs, k0, k1, first);
                }
            }
        }
    }
    _tile_release();
}
