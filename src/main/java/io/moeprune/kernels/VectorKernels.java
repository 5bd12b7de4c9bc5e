package io.moeprune.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Kernels on the Vector API ({@code jdk.incubator.vector}), at the preferred species width (8 floats with AVX2,
 * 16 with AVX-512). Weights are loaded straight from the mapped segment and widened to float in registers:
 * <ul>
 *   <li>F32: a plain vector load;</li>
 *   <li>BF16: a short load of half width, sign-extending S2I conversion to int lanes, shift left 16, reinterpret
 *       (bf16 is the top half of an f32, so the sign-extended bits fall off);</li>
 *   <li>F16: JDK 25 has no half-float lane conversion in the Vector API (no Float16 vector species). Rebuilding
 *       the bits with integer lane ops works but measured 2-3x slower than staging: rows are copied in chunks
 *       of 1024 halves to a short[], converted by a scalar {@code Float.float16ToFloat} loop that C2
 *       auto-vectorizes to VCVTPH2PS on x86 with F16C, and dotted as floats (see {@code dotF16});</li>
 *   <li>F8_E4M3: bytes widened B2I, moved into f32 position with integer ops and re-biased by one multiply by
 *       2^120 (which also normalizes subnormals; NaN blended in), one vector accumulator per 128-column block
 *       scaled once. Measured about 2x faster than a 256-entry table lookup. Masked lane arithmetic is avoided:
 *       a first version using it was several times slower on AVX2 than one compare and a blend. Needs at least 8 float lanes (a 64-bit byte vector); on
 *       narrower machines FP8 rows use the scalar code.</li>
 * </ul>
 * Every loop has four accumulators (FMA latency), and a scalar tail for sizes that are not multiples of the
 * vector length. {@link #matMul} decodes a panel of 64 weight rows × 512 columns into a per-thread float buffer
 * (L2-sized) once and runs 2-rows × 4-inputs register tiles over the whole batch (inputs' slices L1-sized), so
 * the weight bytes are read and decoded once per batch.
 */
final class VectorKernels implements Kernels {
    static final VectorKernels INSTANCE = new VectorKernels();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int L = F.length();
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    /** Byte species with L lanes, or null when that would be narrower than the smallest (64-bit) shape. */
    private static final VectorSpecies<Byte> B = L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int BLOCK = Weights.SCALE_BLOCK;
    /** Chunk of an F16 row staged at once. */
    private static final int MAX_KC = 1024;
    /**
     * matMul blocking: a panel of PANEL_ROWS decoded weight rows × KC columns (128 KiB of floats) stays in L2
     * while groups of 4 input rows × KC (8 KiB) sit in L1. KC is a multiple of the FP8 scale block.
     */
    private static final int KC = 512;
    private static final int PANEL_ROWS = 64;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per-thread buffers, so kernel calls allocate nothing: the matMul weight panel, and the F16 staging. */
    static final class Scratch {
        final float[] panel = new float[PANEL_ROWS * KC];
        final short[] halves = new short[MAX_KC];
        final float[] floats = new float[MAX_KC];
    }

    private VectorKernels() {
    }

    /** Whether the preferred species is wide enough to be worth it (at least 128 bits, i.e. 4 floats). */
    static boolean usable() {
        return F.vectorBitSize() >= 128;
    }

    @Override
    public String description() {
        return "vector (" + F.vectorBitSize() + "-bit, " + L + " floats)";
    }

    // ---------------------------------------------------------------- decoders: L weights at a byte offset

    static FloatVector f32(MemorySegment m, long byteOff) {
        return FloatVector.fromMemorySegment(F, m, byteOff, LE);
    }

    static FloatVector bf16(MemorySegment m, long byteOff) {
        IntVector wide = (IntVector) ShortVector.fromMemorySegment(S, m, byteOff, LE).convertShape(VectorOperators.S2I, I, 0);
        return wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static FloatVector e4m3(MemorySegment m, long byteOff) {
        // B2I sign-extends, so b << 20 puts exponent+mantissa at bits 20..26 and copies of the sign at 27..31;
        // keeping 31 and 20..26 gives an f32 whose value times 2^120 is the E4M3 value (the multiply re-biases
        // the exponent 7 -> 127 and normalizes subnormals). S.1111.111 is the one NaN, blended in.
        IntVector b = (IntVector) ByteVector.fromMemorySegment(B, m, byteOff, LE).convertShape(VectorOperators.B2I, I, 0);
        IntVector bits = b.lanewise(VectorOperators.LSHL, 20).and(0x87f00000);
        IntVector scaled = bits.reinterpretAsFloats().mul(0x1p120f).reinterpretAsInts();
        VectorMask<Integer> nan = b.and(0x7f).compare(VectorOperators.EQ, 0x7f);
        return scaled.blend(0x7fc00000, nan).reinterpretAsFloats();
    }

    // ---------------------------------------------------------------- row dot products (decode in registers)

    private static float dotF32(MemorySegment m, long off, float[] x, int xo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            long o = off + 4L * i;
            a0 = f32(m, o).fma(FloatVector.fromArray(F, x, xo + i), a0);
            a1 = f32(m, o + 4L * L).fma(FloatVector.fromArray(F, x, xo + i + L), a1);
            a2 = f32(m, o + 8L * L).fma(FloatVector.fromArray(F, x, xo + i + 2 * L), a2);
            a3 = f32(m, o + 12L * L).fma(FloatVector.fromArray(F, x, xo + i + 3 * L), a3);
        }
        for (; i <= n - L; i += L) a0 = f32(m, off + 4L * i).fma(FloatVector.fromArray(F, x, xo + i), a0);
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += m.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), off + 4L * i) * x[xo + i];
        return s;
    }

    private static float dotBf16(MemorySegment m, long off, float[] x, int xo, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            long o = off + 2L * i;
            a0 = bf16(m, o).fma(FloatVector.fromArray(F, x, xo + i), a0);
            a1 = bf16(m, o + 2L * L).fma(FloatVector.fromArray(F, x, xo + i + L), a1);
            a2 = bf16(m, o + 4L * L).fma(FloatVector.fromArray(F, x, xo + i + 2 * L), a2);
            a3 = bf16(m, o + 6L * L).fma(FloatVector.fromArray(F, x, xo + i + 3 * L), a3);
        }
        for (; i <= n - L; i += L) a0 = bf16(m, off + 2L * i).fma(FloatVector.fromArray(F, x, xo + i), a0);
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += bf16Scalar(m, off + 2L * i) * x[xo + i];
        return s;
    }

    /**
     * F16 rows go through a float buffer: a bulk copy of the halves, then a plain Float.float16ToFloat loop that
     * C2 auto-vectorizes to the hardware conversion (VCVTPH2PS with F16C), then an array dot. Measured 2-3x
     * faster than rebuilding the bits with Vector API integer ops, which JDK 25 needs for lack of a half-float
     * vector conversion.
     */
    private static float dotF16(MemorySegment m, long off, float[] x, int xo, int n, Scratch s) {
        float sum = 0f;
        for (int c0 = 0; c0 < n; c0 += MAX_KC) {
            int len = Math.min(MAX_KC, n - c0);
            halvesToFloats(m, off + 2L * c0, s, s.floats, 0, len);
            sum += dotArrays(s.floats, 0, x, xo + c0, len);
        }
        return sum;
    }

    /** len halves at byteOff into dst[off..]: bulk copy, then the auto-vectorized conversion loop. */
    static void halvesToFloats(MemorySegment m, long byteOff, Scratch s, float[] dst, int off, int len) {
        short[] h = s.halves;
        MemorySegment.copy(m, ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), byteOff, h, 0, len);
        for (int i = 0; i < len; i++) dst[off + i] = Float.float16ToFloat(h[i]);
    }

    /** Row r of block-scaled FP8 weights: one accumulator per 128-column block, multiplied by its scale once. */
    private static float dotE4m3(Weights w, int r, float[] x, int xo) {
        MemorySegment m = w.data();
        int n = w.cols();
        long off = (long) r * n;
        FloatVector total = FloatVector.zero(F);
        float tail = 0f;
        for (int c0 = 0; c0 < n; c0 += BLOCK) {
            int end = Math.min(n, c0 + BLOCK);
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            int i = c0;
            for (; i <= end - 2 * L; i += 2 * L) {
                a0 = e4m3(m, off + i).fma(FloatVector.fromArray(F, x, xo + i), a0);
                a1 = e4m3(m, off + i + L).fma(FloatVector.fromArray(F, x, xo + i + L), a1);
            }
            for (; i <= end - L; i += L) a0 = e4m3(m, off + i).fma(FloatVector.fromArray(F, x, xo + i), a0);
            float scale = w.scaleAt(r, c0);
            total = a0.add(a1).fma(FloatVector.broadcast(F, scale), total);
            if (i < end) {
                float part = 0f;
                for (; i < end; i++) part += e4m3Scalar(m, off + i) * x[xo + i];
                tail += part * scale;
            }
        }
        return total.reduceLanes(VectorOperators.ADD) + tail;
    }

    private static float rowDot(Weights w, int r, float[] x, int xo, Scratch s) {
        MemorySegment m = w.data();
        long row = (long) r * w.cols();
        return switch (w.dtype()) {
            case F32 -> dotF32(m, row * 4, x, xo, w.cols());
            case BF16 -> dotBf16(m, row * 2, x, xo, w.cols());
            case F16 -> dotF16(m, row * 2, x, xo, w.cols(), s);
            case F8_E4M3 -> B != null ? dotE4m3(w, r, x, xo) : ScalarKernels.rowDot(w, r, x, xo);
            default -> throw new UnsupportedOperationException("matVec on " + w.dtype() + " weights");
        };
    }

    private static float bf16Scalar(MemorySegment m, long byteOff) {
        return Float.intBitsToFloat((m.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), byteOff) & 0xffff) << 16);
    }

    private static float e4m3Scalar(MemorySegment m, long byteOff) {
        return io.moeprune.safetensors.Fp8.e4m3ToFloat(m.get(ValueLayout.JAVA_BYTE, byteOff));
    }

    // ---------------------------------------------------------------- matrix products

    @Override
    public void matVec(Weights w, float[] x, int xOff, float[] out, int outOff) {
        checkInput(w, x, xOff, 1);
        Parallel.forRange(w.rows(), (long) w.cols() * w.dtype().byteSize(), (from, to) -> {
            Scratch s = SCRATCH.get();
            for (int r = from; r < to; r++) out[outOff + r] = rowDot(w, r, x, xOff, s);
        });
    }

    @Override
    public void matMul(Weights w, float[] x, int n, float[] out) {
        if (n == 1) {
            matVec(w, x, 0, out, 0);
            return;
        }
        if (n <= 0) return;
        checkInput(w, x, 0, n);
        int rows = w.rows(), cols = w.cols();
        if ((long) n * rows > out.length) throw new IndexOutOfBoundsException("out has " + out.length + " < " + n + "·" + rows);
        int pairs = (rows + 1) / 2;
        Parallel.forRange(pairs, 4L * cols * n, (from, to) -> matMulRows(w, x, n, out, 2 * from, Math.min(rows, 2 * to)));
    }

    /**
     * Rows [rFrom, rTo) of the batched product: per panel of PANEL_ROWS rows and KC columns, decode the weights
     * once, then sweep 2-row × 4-input register tiles over the whole batch, adding partial sums over k-blocks.
     */
    private static void matMulRows(Weights w, float[] x, int n, float[] out, int rFrom, int rTo) {
        int rows = w.rows(), cols = w.cols();
        Scratch s = SCRATCH.get();
        float[] panel = s.panel;
        for (int rb = rFrom; rb < rTo; rb += PANEL_ROWS) {
            int rbEnd = Math.min(rTo, rb + PANEL_ROWS);
            for (int k0 = 0; k0 < cols; k0 += KC) {
                int kl = Math.min(KC, cols - k0);
                boolean first = k0 == 0;
                for (int r = rb; r < rbEnd; r++) decode(w, r, k0, kl, panel, (r - rb) * KC, s);
                int i = 0;
                for (; i <= n - 4; i += 4) {
                    int xo = i * cols + k0;
                    int r = rb;
                    for (; r + 1 < rbEnd; r += 2) {
                        tile2x4(panel, (r - rb) * KC, x, xo, cols, kl, out, i * rows + r, rows, first);
                    }
                    if (r < rbEnd) {
                        for (int j = 0; j < 4; j++) accumulate(out, (i + j) * rows + r, first,
                                dotArrays(panel, (r - rb) * KC, x, xo + j * cols, kl));
                    }
                }
                for (; i < n; i++) {
                    for (int r = rb; r < rbEnd; r++) {
                        accumulate(out, i * rows + r, first, dotArrays(panel, (r - rb) * KC, x, i * cols + k0, kl));
                    }
                }
            }
        }
    }

    private static void accumulate(float[] out, int o, boolean first, float v) {
        out[o] = first ? v : out[o] + v;
    }

    /** Two weight rows (buf[wo..], buf[wo+KC..]) against four inputs (x at xo, xo+stride, ...): 8 accumulators. */
    private static void tile2x4(float[] buf, int wo, float[] x, int xo, int stride, int kl, float[] out, int oo, int rows,
                                boolean first) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        int k = 0;
        for (; k <= kl - L; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, buf, wo + k);
            FloatVector w1 = FloatVector.fromArray(F, buf, wo + KC + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            c00 = w0.fma(x0, c00);
            c10 = w1.fma(x0, c10);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + stride + k);
            c01 = w0.fma(x1, c01);
            c11 = w1.fma(x1, c11);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * stride + k);
            c02 = w0.fma(x2, c02);
            c12 = w1.fma(x2, c12);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * stride + k);
            c03 = w0.fma(x3, c03);
            c13 = w1.fma(x3, c13);
        }
        float s00 = c00.reduceLanes(VectorOperators.ADD), s01 = c01.reduceLanes(VectorOperators.ADD);
        float s02 = c02.reduceLanes(VectorOperators.ADD), s03 = c03.reduceLanes(VectorOperators.ADD);
        float s10 = c10.reduceLanes(VectorOperators.ADD), s11 = c11.reduceLanes(VectorOperators.ADD);
        float s12 = c12.reduceLanes(VectorOperators.ADD), s13 = c13.reduceLanes(VectorOperators.ADD);
        for (; k < kl; k++) {
            float w0 = buf[wo + k], w1 = buf[wo + KC + k];
            float v0 = x[xo + k], v1 = x[xo + stride + k], v2 = x[xo + 2 * stride + k], v3 = x[xo + 3 * stride + k];
            s00 += w0 * v0; s01 += w0 * v1; s02 += w0 * v2; s03 += w0 * v3;
            s10 += w1 * v0; s11 += w1 * v1; s12 += w1 * v2; s13 += w1 * v3;
        }
        store(out, oo, first, s00, s10);
        store(out, oo + rows, first, s01, s11);
        store(out, oo + 2 * rows, first, s02, s12);
        store(out, oo + 3 * rows, first, s03, s13);
    }

    private static void store(float[] out, int o, boolean first, float a, float b) {
        if (first) {
            out[o] = a;
            out[o + 1] = b;
        } else {
            out[o] += a;
            out[o + 1] += b;
        }
    }

    /** Decodes W[r, k0..k0+len) (scaled, for FP8) into dst[off..]. */
    static void decode(Weights w, int r, int k0, int len, float[] dst, int off, Scratch s) {
        MemorySegment m = w.data();
        long e = (long) r * w.cols() + k0;
        int i = 0;
        switch (w.dtype()) {
            case F32 -> MemorySegment.copy(m, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), e * 4, dst, off, len);
            case BF16 -> {
                for (; i <= len - L; i += L) bf16(m, (e + i) * 2).intoArray(dst, off + i);
                for (; i < len; i++) dst[off + i] = bf16Scalar(m, (e + i) * 2);
            }
            case F16 -> halvesToFloats(m, e * 2, s, dst, off, len);
            case F8_E4M3 -> {
                // Column blocks of 128 share a scale; k0 need not be aligned to one (the tests decode in 1000s).
                while (i < len) {
                    int end = Math.min(len, i + BLOCK - (k0 + i) % BLOCK);
                    float scale = w.scaleAt(r, k0 + i);
                    if (B != null) {
                        for (; i <= end - L; i += L) e4m3(m, e + i).mul(scale).intoArray(dst, off + i);
                    }
                    for (; i < end; i++) dst[off + i] = e4m3Scalar(m, e + i) * scale;
                }
            }
            default -> throw new UnsupportedOperationException("matMul on " + w.dtype() + " weights");
        }
    }

    private static void checkInput(Weights w, float[] x, int xOff, int n) {
        if (xOff < 0 || xOff + (long) n * w.cols() > x.length) {
            throw new IndexOutOfBoundsException("input of " + x.length + " floats at " + xOff + " is too short for "
                    + n + " rows of " + w.cols());
        }
    }

    // ---------------------------------------------------------------- vectors

    private static float dotArrays(float[] a, int ao, float[] b, int bo, int len) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= len - 4 * L; i += 4 * L) {
            a0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), a0);
            a1 = FloatVector.fromArray(F, a, ao + i + L).fma(FloatVector.fromArray(F, b, bo + i + L), a1);
            a2 = FloatVector.fromArray(F, a, ao + i + 2 * L).fma(FloatVector.fromArray(F, b, bo + i + 2 * L), a2);
            a3 = FloatVector.fromArray(F, a, ao + i + 3 * L).fma(FloatVector.fromArray(F, b, bo + i + 3 * L), a3);
        }
        for (; i <= len - L; i += L) a0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), a0);
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        return dotArrays(a, aOff, b, bOff, len);
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len) {
        int i = 0;
        for (; i <= len - L; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.broadcast(F, alpha), FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < len; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    @Override
    public void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff, int len) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i <= len - L; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xOff + i);
            acc = v.fma(v, acc);
        }
        float ss = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) ss += x[xOff + i] * x[xOff + i];
        float inv = (float) (1.0 / Math.sqrt(ss / len + eps));
        i = 0;
        for (; i <= len - L; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xOff + i).mul(inv);
            if (weight != null) v = v.mul(FloatVector.fromArray(F, weight, i));
            v.intoArray(out, outOff + i);
        }
        for (; i < len; i++) {
            float v = x[xOff + i] * inv;
            out[outOff + i] = weight == null ? v : v * weight[i];
        }
    }

    @Override
    public void softmax(float[] x, int off, int len) {
        int i = 0;
        float max = Float.NEGATIVE_INFINITY;
        if (len >= L) {
            FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (; i <= len - L; i += L) m = m.max(FloatVector.fromArray(F, x, off + i));
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < len; i++) max = Math.max(max, x[off + i]);
        FloatVector sumV = FloatVector.zero(F);
        i = 0;
        for (; i <= len - L; i += L) {
            FloatVector e = FloatVector.fromArray(F, x, off + i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            sumV = sumV.add(e);
        }
        float sum = sumV.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        scale(x, off, len, 1f / sum);
    }

    @Override
    public void siluMul(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int len) {
        int i = 0;
        for (; i <= len - L; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, gOff + i);
            FloatVector e = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(e).mul(FloatVector.fromArray(F, up, uOff + i)).intoArray(out, outOff + i);
        }
        for (; i < len; i++) {
            float g = gate[gOff + i];
            out[outOff + i] = g / (1f + (float) Math.exp(-g)) * up[uOff + i];
        }
    }

    @Override
    public void add(float[] x, int xOff, float[] y, int yOff, int len) {
        int i = 0;
        for (; i <= len - L; i += L) {
            FloatVector.fromArray(F, x, xOff + i).add(FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < len; i++) y[yOff + i] += x[xOff + i];
    }

    @Override
    public void scale(float[] x, int off, int len, float alpha) {
        int i = 0;
        for (; i <= len - L; i += L) FloatVector.fromArray(F, x, off + i).mul(alpha).intoArray(x, off + i);
        for (; i < len; i++) x[off + i] *= alpha;
    }
}
