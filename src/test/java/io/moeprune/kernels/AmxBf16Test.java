package io.moeprune.kernels;

import io.moeprune.safetensors.DType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static io.moeprune.kernels.KernelsTest.Matrix;
import static io.moeprune.kernels.KernelsTest.assertProduct;
import static io.moeprune.kernels.KernelsTest.random;
import static io.moeprune.kernels.KernelsTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AMX path of the batched kernels: packing (BF16 rounding, the hi + lo split, the pair layout), its dispatch
 * from matMulT and matMulAll, and the F32-only router product. Machines without AMX run it on the Java model of the
 * tiles ({@code emulate}); the native tiles are compared with that model where the CPU has them.
 */
class AmxBf16Test {
    private static final Kernels VECTOR = Kernels.named("vector");

    @AfterEach
    void restore() {
        AmxBf16.force(null);
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3F800000, AmxBf16.bf16(1f));
        assertEquals(0x3F800000, AmxBf16.bf16(Float.intBitsToFloat(0x3F807FFF)));  // below half: down
        assertEquals(0x3F800000, AmxBf16.bf16(Float.intBitsToFloat(0x3F808000)));  // tie, even below: down
        assertEquals(0x3F820000, AmxBf16.bf16(Float.intBitsToFloat(0x3F818000)));  // tie, odd below: up
        assertEquals(0x3F810000, AmxBf16.bf16(Float.intBitsToFloat(0x3F808001)));  // above half: up
        assertEquals(0xBF810000, AmxBf16.bf16(Float.intBitsToFloat(0xBF808001)));
        assertEquals(0x7F800000, AmxBf16.bf16(Float.POSITIVE_INFINITY));
    }

    /** hi + lo carries x to 2^-16 relative, in pairs of columns with column 2kk in the low half; padding is zero. */
    @Test
    void packingSplitsIntoPairsOfHiAndLo() {
        int n = 5, cols = 64, stride = 8;
        float[] xT = new float[cols * stride];
        java.util.Random rnd = new java.util.Random(3);
        for (int i = 0; i < xT.length; i++) xT[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextGaussian() * 3));
        Bf16Pairs p = AmxBf16.allocate(n, cols, null);
        assertEquals(16, p.tokens);
        AmxBf16.pack(xT, n, stride, p, 0, cols);
        for (int c = 0; c < cols; c++) {
            for (int t = 0; t < 16; t++) {
                int o = (c / 2) * p.tokens + t, shift = c % 2 == 0 ? 16 : 0;
                float hi = Float.intBitsToFloat(p.hi[o] << shift & 0xFFFF0000);
                float lo = Float.intBitsToFloat(p.lo[o] << shift & 0xFFFF0000);
                if (t >= n) {
                    assertEquals(0f, hi);
                    assertEquals(0f, lo);
                    continue;
                }
                float x = xT[c * stride + t];
                assertEquals(AmxBf16.bf16(x), Float.floatToRawIntBits(hi));
                assertTrue(Math.abs((double) hi + lo - x) <= Math.abs(x) * 0x1p-16, "column " + c + " input " + t);
            }
        }
        // A second batch reuses the arrays when they are large enough.
        Bf16Pairs again = AmxBf16.allocate(3, 32, p);
        assertTrue(again.hi == p.hi && again.lo == p.lo);
        assertTrue(AmxBf16.allocate(40, cols, p).hi != p.hi);
    }

    /** matMulT on packed batches (the tiles) against the double reference: row ranges, odd batch sizes, padding. */
    @Test
    void emulatedTilesMatchTheReference() {
        AmxBf16.force(AmxBf16.Backend.EMULATED);
        tileProducts();
    }

    @Test
    void nativeTilesMatchTheReference() {
        String why = AmxNative.unavailable();
        if (why != null) System.out.println("AmxBf16Test: native tiles not checked: " + why);
        Assumptions.assumeTrue(why == null, why);
        AmxBf16.force(AmxBf16.Backend.NATIVE);
        tileProducts();
    }

    /** 96 columns: one chunk of the native kernel's K loop; 544: two whole chunks of 256 and a short one. */
    private static void tileProducts() {
        tileProducts(96, new int[] {2, 5, 16, 17, 33, 40});
        tileProducts(544, new int[] {3, 32, 48});
    }

    private static void tileProducts(int cols, int[] batchSizes) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 48;
            Matrix m = random(DType.BF16, rows, cols, 21, arena);
            for (int n : batchSizes) {
                float[][] xs = new float[n][];
                for (int i = 0; i < n; i++) xs[i] = randomVector(cols, 300 + i);
                int stride = VECTOR.batchStride(n);
                float[] xT = new float[cols * stride];
                for (int i = 0; i < n; i++) for (int c = 0; c < cols; c++) xT[c * stride + i] = xs[i][c];
                TransposedBatch b = VECTOR.prepare(xT, n, stride, cols, DType.BF16, null);
                assertNotNull(b.packed(), "n=" + n + " should be packed");
                for (int[] range : new int[][] {{0, rows}, {16, 32}, {32, 48}, {3, 14}}) {
                    int yOff = 3, len = range[1] - range[0];
                    float[] yT = new float[yOff + len * stride];
                    VECTOR.matMulT(m.w(), range[0], range[1], b, yT, yOff);
                    for (int i = 0; i < n; i++) {
                        float[] col = new float[rows];
                        for (int r = 0; r < rows; r++) {
                            col[r] = r >= range[0] && r < range[1] ? yT[yOff + (r - range[0]) * stride + i]
                                    : (float) exact(m, r, xs[i]);
                        }
                        assertProduct(m, xs[i], 0, col, 0, "tiles n=" + n + " rows " + range[0] + ".." + range[1]
                                + " input " + i);
                    }
                }
                // matMulAll packs the whole batch; matMulF32 (routers) never takes the tiles but agrees closely.
                float[] x = new float[n * cols];
                for (int i = 0; i < n; i++) System.arraycopy(xs[i], 0, x, i * cols, cols);
                float[] all = new float[n * rows], f32 = new float[n * rows];
                VECTOR.matMulAll(List.of(m.w()), x, n, List.of(all));
                VECTOR.matMulF32(m.w(), x, n, f32);
                for (int i = 0; i < n; i++) {
                    assertProduct(m, xs[i], 0, all, i * rows, "matMulAll n=" + n + " input " + i);
                    assertProduct(m, xs[i], 0, f32, i * rows, "matMulF32 n=" + n + " input " + i);
                }
            }
        }
    }

    private static double exact(Matrix m, int r, float[] x) {
        double s = 0;
        for (int c = 0; c < m.w().cols(); c++) s += m.values()[r * m.w().cols() + c] * x[c];
        return s;
    }

    /** What is not packed: one input, other dtypes, widths that are not whole tiles, and the tiles switched off. */
    @Test
    void batchesThatTheTilesDoNotTakeStayUnpacked() {
        AmxBf16.force(AmxBf16.Backend.EMULATED);
        float[] xT = new float[64 * 16];
        assertNull(VECTOR.batch(xT, 1, 1, 64, DType.BF16, null).packed());
        assertNull(VECTOR.batch(xT, 9, 16, 64, DType.F32, null).packed());
        assertNull(VECTOR.batch(xT, 9, 16, 48, DType.BF16, null).packed());
        assertNotNull(VECTOR.batch(xT, 9, 16, 64, DType.BF16, null).packed());
        assertNull(Kernels.named("scalar").batch(xT, 9, 16, 64, DType.BF16, null).packed());
        AmxBf16.force(AmxBf16.Backend.OFF);
        assertNull(VECTOR.batch(xT, 9, 16, 64, DType.BF16, null).packed());
    }
}
