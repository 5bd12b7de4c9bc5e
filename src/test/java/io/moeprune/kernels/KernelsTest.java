package io.moeprune.kernels;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Fp8;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Vector and scalar kernels against a double-precision reference, for every dtype, odd shapes and thread counts. */
@org.junit.jupiter.api.Timeout(120)
class KernelsTest {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final double TOL = 1e-5;

    private static final Kernels SCALAR = Kernels.named("scalar");
    private static final Kernels VECTOR = Kernels.named("vector");
    private static final int DEFAULT_THREADS = Parallel.threads();

    @AfterAll
    static void restore() {
        Parallel.setThreads(DEFAULT_THREADS);
        KernelSelection.force(null);
    }

    /** A random matrix in {@code dtype} plus its exact decoded values (as doubles). */
    record Matrix(Weights w, double[] values) {
    }

    static Matrix random(DType dtype, int rows, int cols, long seed, Arena arena) {
        Random rnd = new Random(seed);
        MemorySegment seg = arena.allocate((long) rows * cols * dtype.byteSize(), 8);
        double[] v = new double[rows * cols];
        float[] scales = null;
        if (dtype == DType.F8_E4M3) {
            scales = new float[Weights.scaleRows(rows) * Weights.scaleRows(cols)];
            for (int i = 0; i < scales.length; i++) scales[i] = (float) Math.exp(rnd.nextGaussian() * 2);
        }
        for (int i = 0; i < v.length; i++) {
            float f = (float) rnd.nextGaussian();
            switch (dtype) {
                case F32 -> {
                    seg.set(FLOAT, 4L * i, f);
                    v[i] = f;
                }
                case BF16 -> {
                    short b = (short) (Float.floatToRawIntBits(f) >>> 16);
                    seg.set(SHORT, 2L * i, b);
                    v[i] = Float.intBitsToFloat(b << 16);
                }
                case F16 -> {
                    // Mix in subnormals and tiny values so the integer rebuild of every class is exercised.
                    float g = i % 7 == 0 ? f * 1e-6f : f;
                    short h = Float.floatToFloat16(g);
                    seg.set(SHORT, 2L * i, h);
                    v[i] = Float.float16ToFloat(h);
                }
                case F8_E4M3 -> {
                    byte b;
                    do b = (byte) rnd.nextInt(256); while ((b & 0x7f) == 0x7f);  // every value but NaN
                    seg.set(ValueLayout.JAVA_BYTE, i, b);
                    int r = i / cols, c = i % cols;
                    v[i] = (double) Fp8.e4m3ToFloat(b)
                            * scales[(r / Weights.SCALE_BLOCK) * Weights.scaleRows(cols) + c / Weights.SCALE_BLOCK];
                }
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        return new Matrix(new Weights(seg, dtype, rows, cols, scales), v);
    }

    static float[] randomVector(int n, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /**
     * The limit of a batched product of {@code dtype} by {@code k}, relative to Σ|w·x|. Where the batches run on the
     * AMX tiles ({@link Kernels#batchesOnTiles()}) FP8 rows go through BF16 panels ({@link QuantPanels}): each weight
     * times its block scale is rounded once to the nearest BF16, an error of at most 2^-9 of |w| (8 significant bits),
     * so of 2^-9 of |w·x| for each product and of 2^-9 Σ|w·x| for the row, plus the tiles' own 2.5e-6 (NOTES.md). The
     * GPU machine's Xeon measured 8.7e-5 and 1.7e-4 of Σ|w·x| (257×384, 2026-12-07): the random walk of those
     * roundings,
     * over the 1e-5 of the F32 paths. Every other dtype and kernel keeps {@link #TOL}.
     */
    static double batchTolerance(Kernels k, DType dtype) {
        boolean panels = k.vectorized() && dtype == DType.F8_E4M3 && Kernels.batchesOnTiles()
                && KernelSwitches.QUANT_PANELS.getPlain();
        return panels ? 0x1p-9 + TOL : TOL;
    }

    /** |got − exact| must be within TOL of Σ|w·x| (the scale rounding errors live on), per output. */
    static void assertProduct(Matrix m, float[] x, int xOff, float[] out, int outOff, String what) {
        assertProduct(m, x, xOff, out, outOff, what, TOL);
    }

    /** |got − exact| must be within {@code tol} of Σ|w·x|, per output. */
    static void assertProduct(Matrix m, float[] x, int xOff, float[] out, int outOff, String what, double tol) {
        int rows = m.w().rows(), cols = m.w().cols();
        for (int r = 0; r < rows; r++) {
            double exact = 0, mag = 0;
            for (int c = 0; c < cols; c++) {
                double p = m.values()[r * cols + c] * x[xOff + c];
                exact += p;
                mag += Math.abs(p);
            }
            double err = Math.abs(out[outOff + r] - exact);
            if (err > tol * mag + 1e-30) {
                fail(what + ": row " + r + " got " + out[outOff + r] + " expected " + exact + " (|w·x| " + mag + ")");
            }
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        int[][] shapes = {{1, 1}, {3, 17}, {65, 129}, {128, 256}, {300, 1000}, {257, 384}};
        for (DType d : new DType[]{DType.F32, DType.BF16, DType.F16, DType.F8_E4M3}) {
            for (int[] s : shapes) {
                for (int threads : new int[]{1, 3}) all.add(Arguments.of(d, s[0], s[1], threads));
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} [{1}x{2}] threads={3}")
    @MethodSource("cases")
    void matVecAndMatMulMatchDoubleReference(DType dtype, int rows, int cols, int threads) {
        Parallel.setThreads(threads);
        try (Arena arena = Arena.ofShared()) {
            Matrix m = random(dtype, rows, cols, rows * 31L + cols, arena);
            int xOff = 3, outOff = 5;
            float[] x = randomVector(xOff + cols, cols);
            for (Kernels k : List.of(SCALAR, VECTOR)) {
                float[] out = new float[outOff + rows + 2];
                k.matVec(m.w(), x, xOff, out, outOff);
                assertProduct(m, x, xOff, out, outOff, k.description() + " matVec");
                assertEquals(0f, out[outOff + rows], "matVec wrote past its output");
            }
            for (int n : new int[]{2, 3, 5, 9, 17, 33}) {
                float[] xs = randomVector(n * cols, n + cols);
                for (Kernels k : List.of(SCALAR, VECTOR)) {
                    float[] out = new float[n * rows];
                    k.matMul(m.w(), xs, n, out);
                    for (int i = 0; i < n; i++) {
                        assertProduct(m, xs, i * cols, out, i * rows,
                                k.description() + " matMul n=" + n + " input " + i,
                                batchTolerance(k, dtype));
                    }
                }
            }
        }
    }

    @Test
    void largeBatchMatMulUsesSeveralKBlocks() {
        // cols > the k-block (64K / n floats) so partial sums are accumulated across blocks.
        Parallel.setThreads(2);
        try (Arena arena = Arena.ofShared()) {
            int rows = 37, cols = 3000, n = 70;
            for (DType d : new DType[]{DType.BF16, DType.F8_E4M3}) {
                Matrix m = random(d, rows, cols, 7, arena);
                float[] xs = randomVector(n * cols, 8);
                float[] out = new float[n * rows];
                VECTOR.matMul(m.w(), xs, n, out);
                for (int i = 0; i < n; i++) {
                    assertProduct(m, xs, i * cols, out, i * rows, d + " input " + i, batchTolerance(VECTOR, d));
                }
            }
        }
    }

    /** Several matrices on one input in one region: each result as its own matMul, for one and many inputs. */
    @Test
    void matMulAllMatchesEachProduct() {
        Parallel.setThreads(3);
        try (Arena arena = Arena.ofShared()) {
            int cols = 300;
            List<Matrix> ms = List.of(random(DType.BF16, 150, cols, 1, arena), random(DType.BF16, 33, cols, 2, arena),
                    random(DType.F32, 7, cols, 3, arena));
            for (int n : new int[]{1, 5, 70}) {
                float[] xs = randomVector(n * cols, 40 + n);
                for (Kernels k : List.of(SCALAR, VECTOR)) {
                    List<float[]> outs = new ArrayList<>();
                    for (Matrix m : ms) outs.add(new float[n * m.w().rows()]);
                    k.matMulAll(ms.stream().map(Matrix::w).toList(), xs, n, outs);
                    for (int j = 0; j < ms.size(); j++) {
                        for (int i = 0; i < n; i++) {
                            assertProduct(ms.get(j), xs, i * cols, outs.get(j), i * ms.get(j).w().rows(),
                                    k.description() + " matMulAll n=" + n + " matrix " + j + " input " + i);
                        }
                    }
                }
            }
        }
    }

    /**
     * matMulT on row sub-ranges (ragged against the register tiles) and batch sizes around the vector lengths, with
     * and without the 6-row tile (which only AVX-512 machines use by default); batches wider than two vectors go
     * through the packed copy of the inputs.
     */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"F32", "BF16", "F16", "F8_E4M3"})
    void transposedProductMatchesDoubleReferenceOnRowRanges(DType dtype) {
        boolean wide = VectorKernels.useWideTile(true);
        try {
            transposedProducts(dtype);
            VectorKernels.useWideTile(false);
            transposedProducts(dtype);
        } finally {
            VectorKernels.useWideTile(wide);
        }
    }

    private void transposedProducts(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 45, cols = 300;
            Matrix m = random(dtype, rows, cols, 11, arena);
            for (int n : new int[]{1, 2, 7, 8, 9, 16, 17, 31, 40, 70}) {
                float[][] xs = new float[n][];
                for (int i = 0; i < n; i++) xs[i] = randomVector(cols, 100 + i);
                for (Kernels k : List.of(SCALAR, VECTOR)) {
                    int stride = k.batchStride(n);
                    assertTrue(stride >= n && (n > 1 || stride == 1), k.description() + " stride " + stride);
                    float[] xT = new float[cols * stride];
                    for (int i = 0; i < n; i++) for (int c = 0; c < cols; c++) xT[c * stride + i] = xs[i][c];
                    for (int[] range : new int[][]{{0, rows}, {3, 14}, {8, 9}, {40, 45}}) {
                        int yOff = 2;
                        float[] yT = new float[yOff + (range[1] - range[0]) * stride];
                        k.matMulT(m.w(), range[0], range[1], xT, n, stride, yT, yOff);
                        for (int i = 0; i < n; i++) {
                            float[] col = new float[rows];
                            for (int r = range[0]; r < range[1]; r++) col[r] = yT[yOff + (r - range[0]) * stride + i];
                            Matrix sub = m;
                            for (int r = 0; r < rows; r++) {
                                if (r < range[0] || r >= range[1]) col[r] = (float) rowExact(sub, r, xs[i]);
                            }
                            assertProduct(m, xs[i], 0, col, 0, k.description() + " matMulT n=" + n + " rows "
                                    + range[0] + ".." + range[1] + " input " + i);
                        }
                    }
                }
            }
        }
    }

    /**
     * A row's one-input dot product is the same float whichever kernel computes it: eight rows at a time, four spread
     * or neighbouring rows, or the row alone. A pruned checkpoint's router has fewer rows, so its rows fall into other
     * groups than the full model's; `prune --verify` needs its logits to equal the masked model's.
     */
    @Test
    void aRowsSumDoesNotDependOnItsKernel() {
        boolean eightWas = KernelSwitches.eightRows(true), spreadWas = KernelSwitches.spreadRows(true);
        boolean shuffledWas = KernelSwitches.shuffledSums(true);
        try (Arena arena = Arena.ofShared()) {
            for (DType dtype : List.of(DType.BF16, DType.F32)) {
                for (int cols : new int[]{256, 260, 2048}) {
                    int rows = 70;
                    Matrix m = random(dtype, rows, cols, 5 + cols, arena);
                    float[] x = randomVector(cols, 9);
                    float[] eight = new float[rows], four = new float[rows], neighbours = new float[rows];
                    float[] alone = new float[rows], eightStored = new float[rows];
                    VECTOR.matVec(m.w(), x, 0, eight, 0);
                    KernelSwitches.shuffledSums(false);
                    VECTOR.matVec(m.w(), x, 0, eightStored, 0);
                    KernelSwitches.shuffledSums(true);
                    KernelSwitches.eightRows(false);
                    VECTOR.matVec(m.w(), x, 0, four, 0);
                    KernelSwitches.spreadRows(false);
                    VECTOR.matVec(m.w(), x, 0, neighbours, 0);
                    KernelSwitches.eightRows(true);
                    KernelSwitches.spreadRows(true);
                    long rowBytes = (long) cols * dtype.byteSize();
                    for (int r = 0; r < rows; r++) {
                        Weights row = new Weights(m.w().data().asSlice(r * rowBytes, rowBytes), dtype, 1, cols);
                        VECTOR.matVec(row, x, 0, alone, r);
                    }
                    String what = dtype + " cols " + cols;
                    assertArrayEquals(alone, eight, what + ": eight rows at a time");
                    assertArrayEquals(alone, eightStored, what + ": eight rows, lanes summed from memory");
                    assertArrayEquals(alone, four, what + ": four spread rows");
                    assertArrayEquals(alone, neighbours, what + ": four neighbouring rows");
                }
            }
        } finally {
            KernelSwitches.eightRows(eightWas);
            KernelSwitches.spreadRows(spreadWas);
            KernelSwitches.shuffledSums(shuffledWas);
        }
    }

    /**
     * A one-input product's block size (which rows go to which thread, and how many the row kernels take at once)
     * does not change a single float of its result: rows of 16, 32 and 48 per block, a matrix not a multiple of any.
     */
    @Test
    void oneInputBlockSizeDoesNotChangeTheResult() {
        int was = KernelSwitches.decodeBlockRows(16);
        try (Arena arena = Arena.ofShared()) {
            Matrix m = random(DType.BF16, 1000, 512, 31, arena);
            float[] x = randomVector(512, 32);
            float[] sixteen = new float[1000], other = new float[1000];
            VECTOR.matMul(m.w(), x, 1, sixteen);
            for (int rows : new int[]{32, 48}) {
                KernelSwitches.decodeBlockRows(rows);
                VECTOR.matMul(m.w(), x, 1, other);
                assertArrayEquals(sixteen, other, rows + "-row blocks");
            }
        } finally {
            KernelSwitches.decodeBlockRows(was);
        }
    }

    /**
     * BF16 rows read eight at a time, an eighth of the block apart (the default), and four at a time: row counts
     * below, at and past sixteen (the least that takes eight), not multiples of eight (the rest go four or one at a
     * time), short and long rows, with and without a column tail.
     */
    @ParameterizedTest(name = "eight rows {0}")
    @ValueSource(booleans = {true, false})
    void spreadRowsMatchDoubleReference(boolean eight) {
        boolean was = KernelSwitches.eightRows(eight);
        try (Arena arena = Arena.ofShared()) {
            for (int cols : new int[]{256, 260, 2048}) {
                for (int rows : new int[]{15, 16, 23, 31, 32, 37, 64, 71, 1000}) {
                    Matrix m = random(DType.BF16, rows, cols, 7 + rows + cols, arena);
                    float[] x = randomVector(cols, 11);
                    float[] out = new float[rows];
                    VECTOR.matVec(m.w(), x, 0, out, 0);
                    assertProduct(m, x, 0, out, 0, "matVec " + rows + "x" + cols);
                    java.util.Arrays.fill(out, 0f);
                    VECTOR.matMul(m.w(), x, 1, out);
                    assertProduct(m, x, 0, out, 0, "matMul " + rows + "x" + cols);
                }
            }
        } finally {
            KernelSwitches.eightRows(was);
        }
    }

    /**
     * One-input products of long BF16 rows, with the pair kernel on (weights read as int pairs against the input laid out
     * even/odd per block): through matVec, matMul (decode's q/k/v) and matMulT on a batch whose layout was filled
     * piecewise by pack (as the experts' activations are, row block by row block, with ragged block edges); column
     * counts with and without a tail after the last whole block, row counts not a multiple of four; four rows a quarter
     * of the block apart and four neighbouring rows. F32 rows of the same width stay on the plain kernel.
     */
    @ParameterizedTest(name = "spread rows {0}")
    @ValueSource(booleans = {true, false})
    void singleInputProductsOfLongRowsMatchDoubleReference(boolean spread) {
        int was = KernelSwitches.pairKernelFrom(1024);
        boolean spreadWas = KernelSwitches.spreadRows(spread);
        try (Arena arena = Arena.ofShared()) {
            for (DType dtype : List.of(DType.BF16, DType.F32)) {
                for (int cols : new int[]{1024, 1030, 2048}) {
                    // Enough rows that matVec and matMul lay their input out (rows · cols ≥ PAIR_MIN_ELEMENTS), and
                    // not a multiple of four.
                    int rows = (int) (VectorKernels.PAIR_MIN_ELEMENTS / cols) + 13;
                    Matrix m = random(dtype, rows, cols, 31 + cols, arena);
                    float[] x = randomVector(cols, 41);
                    String what = dtype + " cols " + cols;
                    float[] out = new float[rows];
                    VECTOR.matVec(m.w(), x, 0, out, 0);
                    assertProduct(m, x, 0, out, 0, what + " matVec");
                    java.util.Arrays.fill(out, 0f);
                    VECTOR.matMul(m.w(), x, 1, out);
                    assertProduct(m, x, 0, out, 0, what + " matMul");
                    float[] input = x.clone();
                    TransposedBatch b = VECTOR.batch(input, 1, 1, cols, dtype, null);
                    assertEquals(dtype == DType.BF16, b.pairs() != null, what + ": pair layout made");
                    int[] cuts = {0, 24, 40, 1000, cols};
                    for (int i = 0; i + 1 < cuts.length; i++) VECTOR.pack(b, cuts[i], cuts[i + 1]);
                    for (int[] range : new int[][]{{0, rows}, {1, 6}, {rows - 1, rows}}) {
                        float[] y = new float[rows];
                        VECTOR.matMulT(m.w(), range[0], range[1], b, y, range[0]);
                        for (int r = 0; r < rows; r++) if (r < range[0] || r >= range[1]) y[r] = (float) rowExact(m, r, x);
                        assertProduct(m, x, 0, y, 0, what + " matMulT rows " + range[0] + ".." + range[1]);
                    }
                }
            }
        } finally {
            KernelSwitches.pairKernelFrom(was);
            KernelSwitches.spreadRows(spreadWas);
        }
    }

    /**
     * The row kernels of input-major products: decodeRow gives the stored values exactly (column ranges around the
     * vector length), rowAxpy adds alpha times the stored row (300 columns: whole vectors and a tail).
     */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"F32", "BF16", "F16", "F8_E4M3"})
    void rowKernelsReadTheStoredValues(DType dtype) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 5, cols = 300;
            Matrix m = random(dtype, rows, cols, 21, arena);
            for (Kernels k : List.of(SCALAR, VECTOR)) {
                for (int r = 0; r < rows; r++) {
                    for (int[] range : new int[][]{{0, cols}, {3, 40}, {16, 17}, {250, 300}}) {
                        float[] dst = new float[range[1] - range[0] + 2];
                        k.decodeRow(m.w(), r, range[0], range[1], dst, 1);
                        for (int c = range[0]; c < range[1]; c++) {
                            assertEquals((float) m.values()[r * cols + c], dst[1 + c - range[0]],
                                    k.description() + " " + dtype + " row " + r + " column " + c);
                        }
                        assertEquals(0f, dst[0]);
                        assertEquals(0f, dst[dst.length - 1]);
                    }
                    float[] y = randomVector(cols + 2, 40 + r), before = y.clone();
                    k.rowAxpy(m.w(), r, 0.75f, y, 1);
                    for (int c = 0; c < cols; c++) {
                        double exact = before[1 + c] + 0.75 * m.values()[r * cols + c];
                        assertEquals(exact, y[1 + c], 1e-5 * (1 + Math.abs(exact)), k.description() + " rowAxpy column " + c);
                    }
                    assertEquals(before[0], y[0]);
                    assertEquals(before[cols + 1], y[cols + 1]);
                }
            }
        }
    }

    private static double rowExact(Matrix m, int r, float[] x) {
        int cols = m.w().cols();
        double s = 0;
        for (int c = 0; c < cols; c++) s += m.values()[r * cols + c] * x[c];
        return s;
    }

    /** The vector path's row decoding (used by matMul) is bit-exact for every 16-bit and 8-bit pattern. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"F16", "BF16", "F8_E4M3"})
    void vectorDecodeIsExactForEveryBitPattern(DType dtype) {
        int count = dtype.byteSize() == 2 ? 65536 : 256;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) count * dtype.byteSize());
            for (int v = 0; v < count; v++) {
                if (dtype.byteSize() == 2) seg.set(SHORT, 2L * v, (short) v);
                else seg.set(ValueLayout.JAVA_BYTE, v, (byte) v);
            }
            Weights w = new Weights(seg, dtype, 1, count);
            float[] got = new float[count];
            VectorKernels.Scratch scratch = new VectorKernels.Scratch();
            for (int k0 = 0; k0 < count; k0 += 1000) {  // 1000: not a multiple of the lanes, so tails run too
                VectorKernels.decode(w, 0, k0, Math.min(1000, count - k0), got, k0, scratch);
            }
            for (int v = 0; v < count; v++) {
                float want = switch (dtype) {
                    case F16 -> Float.float16ToFloat((short) v);
                    case BF16 -> Float.intBitsToFloat(v << 16);
                    default -> Fp8.e4m3ToFloat((byte) v);
                };
                if (Float.isNaN(want)) assertTrue(Float.isNaN(got[v]), dtype + " pattern 0x" + Integer.toHexString(v));
                else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[v]),
                        dtype + " pattern 0x" + Integer.toHexString(v));
            }
        }
    }

    @Test
    void elementWiseKernelsMatchDoubleReference() {
        for (int len : new int[]{1, 7, 8, 33, 1000}) {
            float[] a = randomVector(len + 2, len), b = randomVector(len + 2, len + 1), w = randomVector(len, 3);
            for (Kernels k : List.of(SCALAR, VECTOR)) {
                String what = k.description() + " len=" + len;
                double d = 0, mag = 0;
                for (int i = 0; i < len; i++) {
                    d += (double) a[1 + i] * b[2 + i];
                    mag += Math.abs((double) a[1 + i] * b[2 + i]);
                }
                assertEquals(d, k.dot(a, 1, b, 2, len), TOL * mag, what + " dot");

                float[] y = b.clone();
                k.axpy(0.5f, a, 1, y, 2, len);
                for (int i = 0; i < len; i++) assertEquals(b[2 + i] + 0.5 * a[1 + i], y[2 + i], 1e-6, what + " axpy");

                y = b.clone();
                k.add(a, 1, y, 2, len);
                for (int i = 0; i < len; i++) assertEquals(b[2 + i] + (double) a[1 + i], y[2 + i], 1e-6, what + " add");

                y = a.clone();
                k.scale(y, 1, len, -3f);
                for (int i = 0; i < len; i++) assertEquals(-3.0 * a[1 + i], y[1 + i], 1e-6, what + " scale");

                double ss = 0;
                for (int i = 0; i < len; i++) ss += (double) a[1 + i] * a[1 + i];
                double inv = 1 / Math.sqrt(ss / len + 1e-6);
                float[] out = new float[len + 1];
                k.rmsNorm(a, 1, w, 1e-6f, out, 1, len);
                for (int i = 0; i < len; i++) assertEquals(a[1 + i] * inv * w[i], out[1 + i], 1e-5, what + " rmsNorm");
                y = a.clone();
                k.rmsNorm(y, 1, null, 1e-6f, y, 1, len);
                for (int i = 0; i < len; i++) assertEquals(a[1 + i] * inv, y[1 + i], 1e-5, what + " rmsNorm in place");

                float[] logits = a.clone();
                for (int i = 0; i < logits.length; i++) logits[i] *= 30;  // large values: max subtraction matters
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int i = 0; i < len; i++) max = Math.max(max, logits[1 + i]);
                for (int i = 0; i < len; i++) sum += Math.exp(logits[1 + i] - max);
                y = logits.clone();
                k.softmax(y, 1, len);
                for (int i = 0; i < len; i++) {
                    assertEquals(Math.exp(logits[1 + i] - max) / sum, y[1 + i], 1e-6, what + " softmax");
                }
                assertEquals(logits[0], y[0], what + " softmax touched outside its range");

                out = new float[len];
                k.siluMul(a, 1, b, 2, out, 0, len);
                for (int i = 0; i < len; i++) {
                    double g = a[1 + i];
                    assertEquals(g / (1 + Math.exp(-g)) * b[2 + i], out[i], 1e-5, what + " siluMul");
                }
            }
        }
    }

    @Test
    void selectionHonoursModesAndForce() {
        assertInstanceOf(ScalarKernels.class, Kernels.named("scalar"));
        assertInstanceOf(VectorKernels.class, Kernels.named("vector"));
        assertInstanceOf(VectorKernels.class, Kernels.named("auto"), "this JVM has the module and AVX2 or better");
        MoepruneException e = assertThrows(MoepruneException.class, () -> Kernels.named("gpu"));
        assertTrue(e.getMessage().contains("auto, vector, scalar"), e.getMessage());
        KernelSelection.force(ScalarKernels.INSTANCE);
        assertSame(ScalarKernels.INSTANCE, Kernels.get());
        KernelSelection.force(VECTOR);
        assertSame(VECTOR, Kernels.get());
        KernelSelection.force(null);
        assertNotNull(Kernels.get());
    }

    @Test
    void parallelCoversEveryItemOnceAndRethrows() {
        Parallel.setThreads(4);
        int n = 10_000;
        int[] hits = new int[n];
        for (int round = 0; round < 300; round++) {
            // Work sizes that need 1, 2, 3 or 4 threads, so idle workers fall behind jobs they sit out.
            long work = Parallel.MIN_WORK_PER_THREAD * (1 + round % 4) / n;
            Parallel.forRange(n, work, (from, to) -> {
                for (int i = from; i < to; i++) hits[i]++;
            });
            if (round % 50 == 0) Thread.yield();
        }
        for (int i = 0; i < n; i++) assertEquals(300, hits[i], "item " + i);
        IllegalStateException boom = assertThrows(IllegalStateException.class,
                () -> Parallel.forRange(n, Parallel.MIN_WORK_PER_THREAD, (from, to) -> {
                    throw new IllegalStateException("boom");
                }));
        assertEquals("boom", boom.getMessage());
        // Still usable after a failure, and nested calls run inline instead of deadlocking.
        int[] nested = new int[1];
        Parallel.forRange(4, Parallel.MIN_WORK_PER_THREAD, (from, to) -> Parallel.forRange(2, Parallel.MIN_WORK_PER_THREAD,
                (f2, t2) -> {
                    synchronized (nested) {
                        nested[0] += t2 - f2;
                    }
                }));
        assertEquals(8, nested[0]);
        assertThrows(IllegalArgumentException.class, () -> Parallel.setThreads(0));
        assertEquals(4, Parallel.threads());
    }

    /** The FP8 fixture written by transformers: block-scaled E4M3 [200, 300] against its F32 dequantization. */
    @Test
    void blockScaledFp8FixtureMatchesTransformersDequantization() {
        java.nio.file.Path dir = java.nio.file.Path.of("src/test/resources/conformance/quantized");
        try (var q = io.moeprune.safetensors.SafetensorsFile.open(dir.resolve("fp8.safetensors"));
             var ref = io.moeprune.safetensors.SafetensorsFile.open(dir.resolve("fp8.reference.safetensors"))) {
            String name = "model.layers.0.mlp.experts.0.up_proj.weight";
            Weights w = Weights.blockScaled(q.tensor(name), q.tensor(name + "_scale_inv"));
            float[] deq = ref.tensor("up_proj.dequantized").toFloatArray();
            double[] values = new double[deq.length];
            for (int i = 0; i < deq.length; i++) values[i] = deq[i];
            Matrix m = new Matrix(w, values);
            float[] x = randomVector(300, 11);
            for (Kernels k : List.of(SCALAR, VECTOR)) {
                float[] out = new float[200];
                k.matVec(w, x, 0, out, 0);
                assertProduct(m, x, 0, out, 0, k.description() + " fp8 fixture");
                float[] xs = randomVector(5 * 300, 12), outs = new float[5 * 200];
                k.matMul(w, xs, 5, outs);
                for (int i = 0; i < 5; i++) assertProduct(m, xs, i * 300, outs, i * 200, k.description() + " fp8 batch " + i);
            }
            MoepruneException bad = assertThrows(MoepruneException.class, () -> Weights.blockScaled(q.tensor(name), q.tensor("e5m2")));
            assertTrue(bad.getMessage().contains("block scales"), bad.getMessage());
        }
    }

    /** DeepSeek-V3 FP8 fixture experts carry one per-tensor scale (shape []): spread over the blocks. */
    @Test
    void perTensorFp8ScaleIsSpreadOverBlocks() {
        java.nio.file.Path file = java.nio.file.Path.of("src/test/resources/conformance/deepseek_v3_fp8/model.safetensors");
        try (var f = io.moeprune.safetensors.SafetensorsFile.open(file)) {
            String name = "model.layers.1.mlp.experts.0.up_proj.weight";
            var t = f.tensor(name);
            float scale = f.tensor(name + "_scale_inv").getFloat(0);
            Weights w = Weights.blockScaled(t, f.tensor(name + "_scale_inv"));
            assertEquals(scale, w.scaleAt(31, 63));
            double[] values = new double[32 * 64];
            for (int i = 0; i < values.length; i++) values[i] = (double) t.getFloat(i) * scale;
            float[] x = randomVector(64, 13), out = new float[32];
            VECTOR.matVec(w, x, 0, out, 0);
            assertProduct(new Matrix(w, values), x, 0, out, 0, "per-tensor scale");
        }
    }

    @Test
    void fp8WeightsRejectWrongScaleCount() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(130 * 10);
            assertThrows(IllegalArgumentException.class, () -> new Weights(seg, DType.F8_E4M3, 130, 10, new float[1]));
            Weights ok = new Weights(seg, DType.F8_E4M3, 130, 10, new float[]{2f, 3f});
            assertEquals(3f, ok.scaleAt(129, 9));
            assertEquals(1f, new Weights(seg, DType.F8_E4M3, 130, 10).scaleAt(5, 5));
        }
    }
}
