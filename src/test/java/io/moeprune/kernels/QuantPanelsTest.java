package io.moeprune.kernels;

import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Fp4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;

import static io.moeprune.kernels.KernelsTest.Matrix;
import static io.moeprune.kernels.KernelsTest.assertProduct;
import static io.moeprune.kernels.KernelsTest.random;
import static io.moeprune.kernels.KernelsTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Batched products of FP8 and MXFP4 weights through BF16 panels on the tiles (the Java model of them here).
 * Tolerances: an FP8 panel holds bf16(fp8 · scale), so the product equals the product of those rounded weights to
 * F32 accuracy (1e-5 of Σ|w·x|, as every kernel test) and the exact FP8 product within 2^-9 of Σ|w·x| (each weight's
 * rounding is at most 2^-9 relative); MXFP4 weights are exact in BF16, so their product is within 1e-5 of the exact.
 */
class QuantPanelsTest {
    private static final Kernels VECTOR = Kernels.named("vector");
    /** Each FP8 weight rounded once to BF16: at most half a unit in the last of 8 significant bits. */
    private static final double BF16_ROUNDING = 0x1p-9;

    @AfterEach
    void restore() {
        AmxBf16.force(null);
        KernelSwitches.quantPanels(true);
        KernelSwitches.panelBytes(1 << 21);
        Parallel.setThreads(Runtime.getRuntime().availableProcessors());
    }

    /** What the panels hold: bf16(fp8 · scale), rounded to nearest even, row after row. */
    @Test
    void fp8PanelHoldsTheScaledValuesRoundedToBf16() {
        try (Arena arena = Arena.ofShared()) {
            Matrix m = random(DType.F8_E4M3, 40, 300, 5, arena);
            Weights panel = QuantPanels.fp8(m.w(), 3, 37);
            assertEquals(DType.BF16, panel.dtype());
            assertEquals(34, panel.rows());
            for (int r = 3; r < 37; r++) {
                for (int c = 0; c < 300; c++) {
                    float exact = (float) m.values()[r * 300 + c];
                    short got = panel.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * ((r - 3) * 300 + c));
                    assertEquals(AmxBf16.bf16(exact) >>> 16, got & 0xffff, "row " + r + " column " + c);
                }
            }
        }
    }

    @Test
    void fp8BatchesOnTheEmulatedTilesMatchTheRoundedWeights() {
        AmxBf16.force(AmxBf16.Backend.EMULATED);
        fp8Batches();
    }

    /** The same on the native tiles, where the CPU has them (the GPU machine: bench/device/amx_tests_and_bench.sh). */
    @Test
    void fp8BatchesOnTheNativeTilesMatchTheRoundedWeights() {
        String why = AmxNative.unavailable();
        if (why != null) System.out.println("QuantPanelsTest: native tiles not checked: " + why);
        Assumptions.assumeTrue(why == null, why);
        AmxBf16.force(AmxBf16.Backend.NATIVE);
        fp8Batches();
    }

    /** matMulT on row ranges (several panels, and ragged ranges that take the F32 tiles) and matMulAll. */
    private static void fp8Batches() {
        KernelSwitches.panelBytes(4096);   // 16-row panels: several per range
        Parallel.setThreads(3);
        try (Arena arena = Arena.ofShared()) {
            int rows = 80, cols = 320;
            Matrix m = random(DType.F8_E4M3, rows, cols, 9, arena);
            Matrix rounded = rounded(m);
            double worst = 0;
            for (int n : new int[] {2, 17, 40}) {
                float[][] xs = inputs(n, cols, 50);
                int stride = VECTOR.batchStride(n);
                TransposedBatch b = VECTOR.prepare(transposed(xs, cols, stride), n, stride, cols, DType.F8_E4M3, null);
                assertNotNull(b.packed(), "an FP8 batch of " + n + " is packed for the panels");
                for (int[] range : new int[][] {{0, rows}, {16, 48}, {3, 14}}) {
                    int len = range[1] - range[0];
                    float[] yT = new float[len * stride];
                    VECTOR.matMulT(m.w(), range[0], range[1], b, yT, 0);
                    Matrix ref = len % AmxBf16.TILE == 0 ? rounded : m;   // ragged ranges: the F32 tiles
                    for (int i = 0; i < n; i++) {
                        float[] col = column(yT, stride, i, range[0], rows, ref, xs[i]);
                        String what = "n=" + n + " rows " + range[0] + ".." + range[1] + " input " + i;
                        assertProduct(ref, xs[i], 0, col, 0, what);
                        worst = Math.max(worst, withinRounding(m, xs[i], col, what));
                    }
                }
                float[] x = new float[n * cols], all = new float[n * rows];
                for (int i = 0; i < n; i++) System.arraycopy(xs[i], 0, x, i * cols, cols);
                VECTOR.matMulAll(List.of(m.w()), x, n, List.of(all));
                for (int i = 0; i < n; i++) {
                    assertProduct(rounded, xs[i], 0, all, i * rows, "matMulAll n=" + n + " input " + i);
                }
            }
            assertTrue(worst > 0, "the panels do round");
        }
    }

    /**
     * An open {@link Fp8PanelCache} scope: the first product fills the kept panels, later ones (another batch, as a
     * layer-major pass's next sequence) read them, and every product is the same floats as without the scope; over
     * its budget a matrix is dequantised per call as before.
     */
    @Test
    void keptPanelsGiveTheSameFloats() {
        AmxBf16.force(AmxBf16.Backend.EMULATED);
        KernelSwitches.panelBytes(4096);
        Parallel.setThreads(3);
        try (Arena arena = Arena.ofShared()) {
            int rows = 80, cols = 320, n1 = 17, n2 = 40;
            Matrix m = random(DType.F8_E4M3, rows, cols, 11, arena);
            for (long budget : new long[] {1 << 20, 100}) {
                float[][] all = new float[2][], ranges = new float[2][];
                long[] filled = new long[2];
                try (Fp8PanelCache kept = Fp8PanelCache.open(budget)) {
                    for (int k = 0; k < 2; k++) {
                        all[k] = allRows(m, k == 0 ? n1 : n2);
                        ranges[k] = rows16To48(m, k == 0 ? n1 : n2);
                        filled[k] = kept.filledBytes();
                    }
                }
                long whole = budget >= 2L * rows * cols ? 2L * rows * cols : 0;
                assertEquals(whole, filled[0], "budget " + budget + ": the first batch fills the kept panels");
                assertEquals(whole, filled[1], "budget " + budget + ": the second batch reads them");
                assertTrue(Fp8PanelCache.mostKeptBytes() >= whole, "the most kept over the closed scopes");
                for (int k = 0; k < 2; k++) {
                    int n = k == 0 ? n1 : n2;
                    org.junit.jupiter.api.Assertions.assertArrayEquals(allRows(m, n), all[k], "matMulAll n=" + n);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(rows16To48(m, n), ranges[k], "matMulT n=" + n);
                }
            }
        }
    }

    /** matMulAll of m with n inputs (seeded by n), [n, rows]. */
    private static float[] allRows(Matrix m, int n) {
        int rows = m.w().rows(), cols = m.w().cols();
        float[][] xs = inputs(n, cols, 60 + n);
        float[] x = new float[n * cols], y = new float[n * rows];
        for (int i = 0; i < n; i++) System.arraycopy(xs[i], 0, x, i * cols, cols);
        VECTOR.matMulAll(List.of(m.w()), x, n, List.of(y));
        return y;
    }

    /** matMulT of rows 16..48 of m with n packed inputs (seeded by n), transposed. */
    private static float[] rows16To48(Matrix m, int n) {
        int cols = m.w().cols(), stride = VECTOR.batchStride(n);
        float[][] xs = inputs(n, cols, 60 + n);
        TransposedBatch b = VECTOR.prepare(transposed(xs, cols, stride), n, stride, cols, DType.F8_E4M3, null);
        float[] yT = new float[32 * stride];
        VECTOR.matMulT(m.w(), 16, 48, b, yT, 0);
        return yT;
    }

    /** Switched off: FP8 batches are not packed and stay within 1e-5 of the exact product (F32 register tiles). */
    @Test
    void switchedOffFp8BatchesStayOnTheF32Tiles() {
        AmxBf16.force(AmxBf16.Backend.EMULATED);
        KernelSwitches.quantPanels(false);
        try (Arena arena = Arena.ofShared()) {
            int rows = 48, cols = 256, n = 20;
            Matrix m = random(DType.F8_E4M3, rows, cols, 13, arena);
            float[][] xs = inputs(n, cols, 70);
            int stride = VECTOR.batchStride(n);
            TransposedBatch b = VECTOR.prepare(transposed(xs, cols, stride), n, stride, cols, DType.F8_E4M3, null);
            assertNull(b.packed());
            float[] yT = new float[rows * stride];
            VECTOR.matMulT(m.w(), 0, rows, b, yT, 0);
            for (int i = 0; i < n; i++) assertProduct(m, xs[i], 0, column(yT, stride, i, 0, rows, m, xs[i]), 0, "off " + i);
        }
    }

    /** MXFP4 rows are exact in BF16: panels on the tiles, and the F32 rows without them, give the exact product. */
    @Test
    void mxfp4PanelsAreExact() {
        try (Arena arena = Arena.ofShared()) {
            int rows = 48, cols = 320, n = 21;
            Mxfp4Matrix w = randomMxfp4(rows, cols, 17, arena);
            float[] decoded = new float[rows * cols];
            w.decodeRows(0, rows, decoded);   // deinterleaved column order, as the batch is
            double[] values = new double[decoded.length];
            for (int i = 0; i < values.length; i++) values[i] = decoded[i];
            MemorySegment seg = MemorySegment.ofArray(decoded);
            Matrix exact = new Matrix(new Weights(seg, DType.F32, rows, cols), values);
            float[][] xs = inputs(n, cols, 90);
            int stride = VECTOR.batchStride(n);
            List<AmxBf16.Backend> backends =
                    new java.util.ArrayList<>(List.of(AmxBf16.Backend.EMULATED, AmxBf16.Backend.OFF));
            if (AmxNative.unavailable() == null) backends.add(AmxBf16.Backend.NATIVE);
            for (AmxBf16.Backend backend : backends) {
                AmxBf16.force(backend);
                TransposedBatch b = VECTOR.prepare(transposed(xs, cols, stride), n, stride, cols, DType.BF16, null);
                assertEquals(backend != AmxBf16.Backend.OFF, b.packed() != null);
                for (int[] range : new int[][] {{0, rows}, {16, 32}, {5, 30}}) {
                    float[] yT = new float[(range[1] - range[0]) * stride];
                    VECTOR.mxfp4MatMulT(w, range[0], range[1], b, yT, 0);
                    for (int i = 0; i < n; i++) {
                        assertProduct(exact, xs[i], 0, column(yT, stride, i, range[0], rows, exact, xs[i]), 0,
                                backend + " rows " + range[0] + ".." + range[1] + " input " + i);
                    }
                }
            }
        }
    }

    /** Rows outside [r0, r0 + len) filled with the exact products, so assertProduct can check the whole column. */
    private static float[] column(float[] yT, int stride, int i, int r0, int rows, Matrix m, float[] x) {
        int len = Math.min(rows - r0, yT.length / stride);
        float[] col = new float[rows];
        for (int r = 0; r < rows; r++) {
            if (r >= r0 && r < r0 + len) {
                col[r] = yT[(r - r0) * stride + i];
            } else {
                double s = 0;
                for (int c = 0; c < m.w().cols(); c++) s += m.values()[r * m.w().cols() + c] * x[c];
                col[r] = (float) s;
            }
        }
        return col;
    }

    /** Checks |got − exact| ≤ (2^-9 + 1e-5)·Σ|w·x| per row; returns the largest |got − exact| / Σ|w·x|. */
    private static double withinRounding(Matrix m, float[] x, float[] got, String what) {
        int rows = m.w().rows(), cols = m.w().cols();
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            double exact = 0, mag = 0;
            for (int c = 0; c < cols; c++) {
                double p = m.values()[r * cols + c] * x[c];
                exact += p;
                mag += Math.abs(p);
            }
            double rel = Math.abs(got[r] - exact) / mag;
            if (rel > BF16_ROUNDING + 1e-5) fail(what + ": row " + r + " off by " + rel + " of |w·x|");
            worst = Math.max(worst, rel);
        }
        return worst;
    }

    /** The same weights with every value rounded to BF16 (what the panels multiply). */
    private static Matrix rounded(Matrix m) {
        double[] v = new double[m.values().length];
        for (int i = 0; i < v.length; i++) v[i] = Float.intBitsToFloat(AmxBf16.bf16((float) m.values()[i]));
        return new Matrix(m.w(), v);
    }

    private static float[][] inputs(int n, int cols, long seed) {
        float[][] xs = new float[n][];
        for (int i = 0; i < n; i++) xs[i] = randomVector(cols, seed + i);
        return xs;
    }

    private static float[] transposed(float[][] xs, int cols, int stride) {
        float[] xT = new float[cols * stride];
        for (int i = 0; i < xs.length; i++) for (int c = 0; c < cols; c++) xT[c * stride + i] = xs[i][c];
        return xT;
    }

    /** Random FP4 values with scales 2^-4..2^3. */
    private static Mxfp4Matrix randomMxfp4(int rows, int cols, long seed, Arena arena) {
        Random rnd = new Random(seed);
        int groups = rows * cols / Mxfp4Matrix.GROUP;
        MemorySegment blocks = arena.allocate((long) groups * Mxfp4Matrix.GROUP_BYTES);
        MemorySegment scales = arena.allocate(groups);
        for (long i = 0; i < blocks.byteSize(); i++) blocks.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
        for (long g = 0; g < groups; g++) scales.set(ValueLayout.JAVA_BYTE, g, (byte) (123 + rnd.nextInt(8)));
        assertEquals(0.5f, Fp4.e8m0ToFloat((byte) 126));
        return new Mxfp4Matrix(blocks, scales, rows, cols);
    }
}
