package io.moeprune.kernels;

import io.moeprune.safetensors.DType;
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
 * Every dot loop has four accumulators (FMA latency), and a scalar tail for sizes that are not multiples of the
 * vector length. Batched products ({@link #matMulT}, and {@link #matMul} through it) work on a transposed batch,
 * inputs along the vector lanes: a panel of MC rows × KC columns of weights is decoded once, and each decoded weight
 * is broadcast against whole vectors of inputs in a register tile (4 rows × 2 vectors, or 8 × 1), so weights are
 * read and decoded once per batch and no weight panel is transposed. Batches of fewer than L/4 inputs, which would
 * leave most lanes empty, take row dot products per input instead.
 *
 * <p>On CPUs with AMX, batches of BF16 weights go to the tiles instead ({@link AmxBf16}): the batch is packed once
 * ({@link #batch}, {@link #pack}) and every row block of every matrix that takes it reads the packing. FP8 and MXFP4
 * batches go there too, their rows dequantised a panel at a time into BF16 ({@link QuantPanels}). Router
 * logits ({@link #matMulF32}) never do.
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
     * matMulT blocking (as in GotoBLAS): MC rows × KC columns of weights are decoded once into a panel (L2) and swept
     * by register tiles against KC × 2 vectors of transposed inputs, packed contiguously (L1). The tiles are 6 rows ×
     * 2 vectors of inputs with 32 vector registers (AVX-512), else 4 × 2, and 8 rows × 1 vector for a last single
     * vector: 8-12 independent accumulators, enough to cover FMA latency on two FMA ports. (On 2026-11-23 an 8 × 2 tile
     * measured 3-4x slower inside this kernel; timed alone on 2026-11-23 it ran at 147 GFLOP/s against 152 for 6 × 2,
     * so the cause was not the tile itself. BENCHMARKS.md, 2026-11-23.)
     */
    private static final int KC = 256;
    /**
     * Whether the 6 rows × 2 vectors tile is used (12 accumulators, 6 broadcasts and 2 loads per 12 FMAs): with 32
     * vector registers (AVX-512) it measured 1.2x the 4×2 tile in isolation on the GPU machine's Xeon (152 vs 123
     * GFLOP/s, one core); with 16 (AVX2) it spills and runs at half the 4×2 tile's speed.
     */
    private static boolean wideTile = L >= 16;
    /** Rows decoded into one panel (MC × KC floats = 128 KiB). */
    private static final int MC = 128;
    /** Input vectors per unit of a parallel matMul (64 inputs with AVX-512): its inputs' slice stays in L2. */
    private static final int TOKEN_VECTORS = 4;
    /**
     * Up to this many inputs, matMulT takes dot products per input instead of the transposed tiles. Measured on the
     * GPU machine's Xeon (L = 16, one thread, BF16 expert matrices): 1.3-1.7x faster at 4 inputs, even at 8, so the
     * default is L/4; end-to-end prefill did not move beyond the call's noise. {@code -Dmoeprune.dotMaxInputs=N}.
     */
    private static final int DOT_MAX_INPUTS = Integer.getInteger("moeprune.dotMaxInputs", Math.max(1, L / 4));
    /** Rows per block of {@link #dotsPerInput} (one-input products split by {@code KernelSwitches.DECODE_BLOCK_ROWS}). */
    private static final int DOT_BLOCK_ROWS = 32;
    /** A one-input matMul/matMulAll lays its input out for the pair kernel from this many weights on (1 MB of BF16). */
    static final long PAIR_MIN_ELEMENTS = 1L << 19;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per-thread buffers, so kernel calls allocate nothing: decoded weight rows, and the F16 staging. */
    static final class Scratch {
        final float[] panel = new float[MC * KC];
        /** KC columns × 2 vectors of inputs, packed (see {@code block}). */
        final float[] packed = new float[KC * 2 * L];
        final short[] halves = new short[MAX_KC];
        final float[] floats = new float[MAX_KC];
        /** Eight accumulators' lanes, summed as LaneSums does (dot8Bf16). */
        final float[] lanes = new float[8 * L];
    }

    private VectorKernels() {
    }

    /** Turns the 6×2 tile on or off (tests run it on machines without AVX-512); returns the previous setting. */
    static boolean useWideTile(boolean on) {
        boolean was = wideTile;
        wideTile = on;
        return was;
    }

    /** Whether the preferred species is wide enough to be worth it (at least 128 bits, i.e. 4 floats). */
    static boolean usable() {
        return F.vectorBitSize() >= 128;
    }

    /** Through the panel decoder of matMulT, in pieces of at most MAX_KC columns (its F16 staging size). */
    @Override
    public void decodeRow(Weights w, int r, int c0, int c1, float[] dst, int off) {
        Scratch s = SCRATCH.get();
        for (int c = c0; c < c1; c += MAX_KC) decode(w, r, c, Math.min(MAX_KC, c1 - c), dst, off + c - c0, s);
    }

    @Override
    public void mxfp4Rows(Mxfp4Matrix w, int rowFrom, int rowTo, float[] xd, float[] out, int outOff) {
        Mxfp4VectorRows.dotRows(w, rowFrom, rowTo, xd, out, outOff);
    }

    @Override
    public void mxfp4DecodeRows(Mxfp4Matrix w, int rowFrom, int rowTo, float[] dst) {
        Mxfp4VectorRows.decodeRows(w, rowFrom, rowTo, dst);
    }

    /** Where the batch is packed for the tiles, BF16 panels of the rows (exact); else F32 rows on the register tiles. */
    @Override
    public void mxfp4MatMulT(Mxfp4Matrix w, int rowFrom, int rowTo, TransposedBatch x, float[] yT, int yOff) {
        if (rowFrom < rowTo && QuantPanels.takesMxfp4(w.cols(), rowTo - rowFrom, x)) {
            QuantPanels.multiply((r0, r1) -> QuantPanels.mxfp4(w, r0, r1), w.cols(), rowFrom, rowTo, x.packed(), 0,
                    x.stride(), yT, yOff, x.stride());
        } else {
            Kernels.super.mxfp4MatMulT(w, rowFrom, rowTo, x, yT, yOff);
        }
    }

    /** BF16 and F32 rows decoded and added in one pass. */
    @Override
    public void rowAxpy(Weights w, int r, float alpha, float[] y, int yOff) {
        DType d = w.dtype();
        if (d != DType.BF16 && d != DType.F32) {
            Kernels.super.rowAxpy(w, r, alpha, y, yOff);
            return;
        }
        MemorySegment m = w.data();
        int cols = w.cols();
        long row = (long) r * cols;
        FloatVector a = FloatVector.broadcast(F, alpha);
        int c = 0;
        for (; c + L <= cols; c += L) {
            FloatVector v = d == DType.BF16 ? bf16(m, (row + c) * 2) : f32(m, (row + c) * 4);
            v.fma(a, FloatVector.fromArray(F, y, yOff + c)).intoArray(y, yOff + c);
        }
        for (; c < cols; c++) {
            float v = d == DType.BF16 ? bf16Scalar(m, (row + c) * 2)
                    : m.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), (row + c) * 4);
            y[yOff + c] += alpha * v;
        }
    }

    @Override
    public boolean vectorized() {
        return true;
    }

    @Override
    public String description() {
        String amx = AmxBf16.backend() != AmxBf16.Backend.OFF ? "; BF16 batches: " + AmxBf16.description() : "";
        return "vector (" + F.vectorBitSize() + "-bit, " + L + " floats" + amx + ")";
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

    /**
     * Rows [r0, r1) of FP8 weights times their block scales, each rounded to the nearest BF16 (ties to even, as
     * {@link AmxBf16#bf16(float)}), into dst row after row: the panels of {@link QuantPanels}.
     */
    static void fp8ToBf16(Weights w, int r0, int r1, short[] dst) {
        MemorySegment m = w.data();
        int cols = w.cols();
        for (int r = r0; r < r1; r++) {
            long e = (long) r * cols;
            int o = (r - r0) * cols, c = 0;
            while (c < cols) {
                int end = Math.min(cols, c + BLOCK);   // c is a multiple of BLOCK: one scale per run
                float scale = w.scaleAt(r, c);
                if (B != null) {
                    for (; c <= end - L; c += L) {
                        IntVector bits = AmxBf16.bf16(e4m3(m, e + c).mul(scale)).lanewise(VectorOperators.LSHR, 16);
                        bits.convertShape(VectorOperators.I2S, S, 0).reinterpretAsShorts().intoArray(dst, o + c);
                    }
                }
                for (; c < end; c++) dst[o + c] = (short) (AmxBf16.bf16(e4m3Scalar(m, e + c) * scale) >>> 16);
            }
        }
    }

    /** src[0, len) into dst[off, +len) as BF16 by dropping the low 16 bits: exact for values that are BF16 already. */
    static void truncateToBf16(float[] src, int len, short[] dst, int off) {
        int i = 0;
        for (; i <= len - L; i += L) {
            IntVector bits = FloatVector.fromArray(F, src, i).reinterpretAsInts().lanewise(VectorOperators.LSHR, 16);
            bits.convertShape(VectorOperators.I2S, S, 0).reinterpretAsShorts().intoArray(dst, off + i);
        }
        for (; i < len; i++) dst[off + i] = (short) (Float.floatToRawIntBits(src[i]) >>> 16);
    }

    // ---------------------------------------------------------------- row dot products (decode in registers)

    /*
     * One row's dot product is summed the same way by every one-input kernel (dotF32/dotBf16 for a single row, the
     * four- and eight-row kernels): one accumulator per row over whole vectors, its lanes added by LaneSums, then the
     * columns past the last whole vector in order. So a row's result does not depend on how the rows were grouped
     * (a block's size, a chunk's edges, the matrix's row count), and a pruned checkpoint, whose router has fewer
     * rows, computes every logit exactly as the masked full model does (`prune --verify`). Only the pair kernel (off
     * by default) sums in another order.
     */

    private static float dotF32(MemorySegment m, long off, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - L; i += L) a = f32(m, off + 4L * i).fma(FloatVector.fromArray(F, x, xo + i), a);
        float s = LaneSums.sum(a);
        for (; i < n; i++) s += m.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), off + 4L * i) * x[xo + i];
        return s;
    }

    private static float dotBf16(MemorySegment m, long off, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - L; i += L) a = bf16(m, off + 2L * i).fma(FloatVector.fromArray(F, x, xo + i), a);
        float s = LaneSums.sum(a);
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
        return LaneSums.sum(total) + tail;
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
        float[] xp = pairInput(java.util.List.of(w), x, xOff);
        Parallel.forRange(w.rows(), (long) w.cols() * w.dtype().byteSize(), (from, to) -> {
            Scratch s = SCRATCH.get();
            rowDots(w, from, to, x, xOff, xp, out, outOff + from, s);
        });
    }

    /**
     * out[outOff + r − from] = W[r]·x for rows [from, to). BF16 rows go eight at a time (blocks of 16 rows or more),
     * else four, as F32 rows do: independent streams from memory keep more loads in flight than one (a decode step
     * is bound by the loads in flight per core, not by arithmetic), and each input vector is loaded once for all of
     * them. {@code xp}, when not null, is x in the layout of {@link #pairLayout}, for BF16 rows (the pair kernel).
     */
    private static void rowDots(Weights w, int from, int to, float[] x, int xo, float[] xp, float[] out, int outOff,
                                Scratch s) {
        int r = from;
        DType d = w.dtype();
        if (d == DType.BF16 || d == DType.F32) {
            MemorySegment m = w.data();
            int n = w.cols();
            long rowBytes = (long) n * d.byteSize();
            boolean spread = KernelSwitches.SPREAD_ROWS.getPlain();
            if (d == DType.BF16 && xp == null && spread && KernelSwitches.EIGHT_ROWS.getPlain() && to - from >= 16
                    && LaneSums.treeOfStoredMatches()) {
                // Eight runs an eighth of the block apart: a decode step's products are bound by the loads each core
                // keeps in flight, and eight streams keep more than four (GPU machine, 16 threads: 5-12 % faster
                // decode, every product faster). Sixteen accumulators were 2.5× slower (C2), one row at a time 20 %.
                int q = (to - from) / 8;
                for (int j = 0; j < q; j++) {
                    dot8Bf16(m, (long) (from + j) * rowBytes, q * rowBytes, x, xo, n, out, outOff + j, q, s.lanes);
                }
                r = from + 8 * q;
            } else if (d == DType.BF16 && spread && to - from >= 8) {
                // Four neighbouring rows are four runs a row apart, which the prefetchers follow badly on short rows
                // (an expert's down projection: 512 bytes, four runs a few cache lines apart); rows a quarter of the
                // block apart are four sequential runs through the block.
                int q = (to - from) / 4;
                for (int j = 0; j < q; j++) {
                    long o = (long) (from + j) * rowBytes;
                    if (xp != null) dot4Bf16Pairs(m, o, q * rowBytes, xp, x, xo, n, out, outOff + j, q, s.lanes);
                    else dot4Bf16(m, o, q * rowBytes, x, xo, n, out, outOff + j, q);
                }
                r = from + 4 * q;
            }
            for (; r + 4 <= to; r += 4) {
                if (xp != null && d == DType.BF16) {
                    dot4Bf16Pairs(m, r * rowBytes, rowBytes, xp, x, xo, n, out, outOff + r - from, 1, s.lanes);
                }
                else if (d == DType.BF16) dot4Bf16(m, r * rowBytes, rowBytes, x, xo, n, out, outOff + r - from, 1);
                else dot4F32(m, r * rowBytes, rowBytes, x, xo, n, out, outOff + r - from);
            }
        }
        for (; r < to; r++) out[outOff + r - from] = rowDot(w, r, x, xo, s);
    }

    /** Rows at off and 1, 2, 3 × rowStride bytes after it, into out[oo + k·outStride]. */
    private static void dot4Bf16(MemorySegment m, long off, long rowStride, float[] x, int xo, int n, float[] out, int oo,
                                 int outStride) {
        long o1 = off + rowStride, o2 = o1 + rowStride, o3 = o2 + rowStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long b = 2L * i;
            a0 = bf16(m, off + b).fma(xv, a0);
            a1 = bf16(m, o1 + b).fma(xv, a1);
            a2 = bf16(m, o2 + b).fma(xv, a2);
            a3 = bf16(m, o3 + b).fma(xv, a3);
        }
        finishBf16Rows(m, off, o1, o2, o3, x, xo, i, n, LaneSums.sum(a0), LaneSums.sum(a1), LaneSums.sum(a2),
                LaneSums.sum(a3), out, oo, outStride);
    }

    /** Rows at off and 1..7 × rowStride bytes after it, into out[oo + k·outStride]; {@code t}: 8·L floats of scratch. */
    private static void dot8Bf16(MemorySegment m, long off, long rowStride, float[] x, int xo, int n, float[] out, int oo,
                                 int outStride, float[] t) {
        long o1 = off + rowStride, o2 = o1 + rowStride, o3 = o2 + rowStride, o4 = o3 + rowStride, o5 = o4 + rowStride,
                o6 = o5 + rowStride, o7 = o6 + rowStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long b = 2L * i;
            a0 = bf16(m, off + b).fma(xv, a0);
            a1 = bf16(m, o1 + b).fma(xv, a1);
            a2 = bf16(m, o2 + b).fma(xv, a2);
            a3 = bf16(m, o3 + b).fma(xv, a3);
            a4 = bf16(m, o4 + b).fma(xv, a4);
            a5 = bf16(m, o5 + b).fma(xv, a5);
            a6 = bf16(m, o6 + b).fma(xv, a6);
            a7 = bf16(m, o7 + b).fma(xv, a7);
        }
        if (KernelSwitches.SHUFFLED_SUMS.getPlain() && LaneSums.eightAtOnce()) {
            // The eight rows' lane sums in one tree across the vectors, as LaneSums.sum adds each.
            LaneSums.sumsOfEight(a0, a1, a2, a3, a4, a5, a6, a7).intoArray(t, 0);
            int w = L / 8;
            finishBf16Rows(m, off, o1, o2, o3, x, xo, i, n, t[0], t[w], t[2 * w], t[3 * w], out, oo, outStride);
            finishBf16Rows(m, o4, o5, o6, o7, x, xo, i, n, t[4 * w], t[5 * w], t[6 * w], t[7 * w], out,
                    oo + 4 * outStride, outStride);
            return;
        }
        // LaneSums' tree, as every one-input kernel adds (see dotF32), on the stored lanes: eight LaneSums trees in
        // registers passed C2's inlining budget and boxed the vectors (57 KB per product).
        a0.intoArray(t, 0);
        a1.intoArray(t, L);
        a2.intoArray(t, 2 * L);
        a3.intoArray(t, 3 * L);
        a4.intoArray(t, 4 * L);
        a5.intoArray(t, 5 * L);
        a6.intoArray(t, 6 * L);
        a7.intoArray(t, 7 * L);
        finishBf16Rows(m, off, o1, o2, o3, x, xo, i, n, LaneSums.sumOfStored(t, 0), LaneSums.sumOfStored(t, L),
                LaneSums.sumOfStored(t, 2 * L), LaneSums.sumOfStored(t, 3 * L), out, oo, outStride);
        finishBf16Rows(m, o4, o5, o6, o7, x, xo, i, n, LaneSums.sumOfStored(t, 4 * L), LaneSums.sumOfStored(t, 5 * L),
                LaneSums.sumOfStored(t, 6 * L), LaneSums.sumOfStored(t, 7 * L), out, oo + 4 * outStride, outStride);
    }

    /**
     * The four BF16 rows at o0..o3: columns [i, n), which no whole vector covered, added to their sums, and the sums
     * stored at out[oo + k·outStride].
     */
    private static void finishBf16Rows(MemorySegment m, long o0, long o1, long o2, long o3, float[] x, int xo, int i,
                                       int n, float s0, float s1, float s2, float s3, float[] out, int oo,
                                       int outStride) {
        for (; i < n; i++) {
            float xi = x[xo + i];
            long b = 2L * i;
            s0 += bf16Scalar(m, o0 + b) * xi;
            s1 += bf16Scalar(m, o1 + b) * xi;
            s2 += bf16Scalar(m, o2 + b) * xi;
            s3 += bf16Scalar(m, o3 + b) * xi;
        }
        out[oo] = s0;
        out[oo + outStride] = s1;
        out[oo + 2 * outStride] = s2;
        out[oo + 3 * outStride] = s3;
    }

    /**
     * dot4Bf16 reading each pair of BF16 weights as one int: its low half shifted up is the even element, its high
     * half masked is the odd one, so 2L weights decode with two ALU ops and no widening shuffle, against xp (x with
     * each 2L block split into its even then its odd elements). Four accumulators, two products into each per step.
     */
    private static void dot4Bf16Pairs(MemorySegment m, long off, long rowStride, float[] xp, float[] x, int xo, int n,
                                      float[] out, int oo, int outStride, float[] t) {
        long o1 = off + rowStride, o2 = o1 + rowStride, o3 = o2 + rowStride;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        // A vector mask, not and(int): with the scalar form C2 lost the products' vector type and boxed them.
        IntVector high = IntVector.broadcast(I, 0xffff0000);
        int i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            FloatVector xe = FloatVector.fromArray(F, xp, i), xd = FloatVector.fromArray(F, xp, i + L);
            long b = 2L * i;
            IntVector w0 = IntVector.fromMemorySegment(I, m, off + b, LE);
            IntVector w1 = IntVector.fromMemorySegment(I, m, o1 + b, LE);
            IntVector w2 = IntVector.fromMemorySegment(I, m, o2 + b, LE);
            IntVector w3 = IntVector.fromMemorySegment(I, m, o3 + b, LE);
            a0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0);
            a1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1);
            a2 = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2);
            a3 = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3);
            a0 = w0.and(high).reinterpretAsFloats().fma(xd, a0);
            a1 = w1.and(high).reinterpretAsFloats().fma(xd, a1);
            a2 = w2.and(high).reinterpretAsFloats().fma(xd, a2);
            a3 = w3.and(high).reinterpretAsFloats().fma(xd, a3);
        }
        // The stored lanes in LaneSums' tree: four trees in registers passed C2's node budget for inlining (the
        // fourth became a call and its vector a boxed object per call), and reduceLanes adds in another order once
        // C2 has compiled it than before, so a result would depend on when it was computed.
        a0.intoArray(t, 0);
        a1.intoArray(t, L);
        a2.intoArray(t, 2 * L);
        a3.intoArray(t, 3 * L);
        finishBf16Rows(m, off, o1, o2, o3, x, xo, i, n, LaneSums.sumOfStored(t, 0), LaneSums.sumOfStored(t, L),
                LaneSums.sumOfStored(t, 2 * L), LaneSums.sumOfStored(t, 3 * L), out, oo, outStride);
    }

    /**
     * The one input x[xo, +cols) of a product with these matrices laid out for the pair kernel (in this thread's
     * buffer), or null where none of them takes it. Laying it out costs the caller a pass over its columns: worth it
     * for products that read at least PAIR_MIN_ELEMENTS weights (q/k/v, o_proj, the LM head), not for a router's 64
     * rows.
     */
    private static float[] pairInput(java.util.List<Weights> ws, float[] x, int xo) {
        int cols = ws.getFirst().cols();
        boolean pairs = false;
        long elements = 0;
        for (Weights w : ws) {
            pairs |= pairKernel(w.dtype(), cols);
            elements += (long) w.rows() * cols;
        }
        return pairs && elements >= PAIR_MIN_ELEMENTS ? BATCH_BUFFERS.get().pairs(x, xo, cols) : null;
    }

    /** Whether one-input products with these weights take the pair kernel, so want their input in pair layout. */
    static boolean pairKernel(DType weights, int cols) {
        return weights == DType.BF16 && cols >= KernelSwitches.PAIR_MIN_COLS.getPlain() && cols >= 2 * L;
    }

    /**
     * Columns [c0, c1) of the input x[xo, +n) into dst in the pair kernel's layout: in each whole block of 2L
     * columns the even columns come first, then the odd ones (the order in which a block's BF16 pairs, read as
     * ints, decode); columns after the last whole block stay where they are.
     */
    static void pairLayout(float[] x, int xo, int n, int c0, int c1, float[] dst) {
        int whole = n - n % (2 * L);
        int c = c0;
        // Whole blocks inside the range go block by block; partial ones column by column.
        for (; c < c1 && c < whole && c % (2 * L) != 0; c++) dst[pairIndex(c)] = x[xo + c];
        for (; c + 2 * L <= Math.min(c1, whole); c += 2 * L) {
            for (int j = 0; j < L; j++) {
                dst[c + j] = x[xo + c + 2 * j];
                dst[c + L + j] = x[xo + c + 2 * j + 1];
            }
        }
        for (; c < c1; c++) dst[c < whole ? pairIndex(c) : c] = x[xo + c];
    }

    private static int pairIndex(int c) {
        int block = c - c % (2 * L), within = c % (2 * L);
        return block + (within & 1) * L + (within >> 1);
    }

    private static void dot4F32(MemorySegment m, long off, long rowBytes, float[] x, int xo, int n, float[] out, int oo) {
        long o1 = off + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long b = 4L * i;
            a0 = f32(m, off + b).fma(xv, a0);
            a1 = f32(m, o1 + b).fma(xv, a1);
            a2 = f32(m, o2 + b).fma(xv, a2);
            a3 = f32(m, o3 + b).fma(xv, a3);
        }
        float s0 = LaneSums.sum(a0), s1 = LaneSums.sum(a1);
        float s2 = LaneSums.sum(a2), s3 = LaneSums.sum(a3);
        ValueLayout.OfFloat fl = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
        for (; i < n; i++) {
            float xi = x[xo + i];
            long b = 4L * i;
            s0 += m.get(fl, off + b) * xi;
            s1 += m.get(fl, o1 + b) * xi;
            s2 += m.get(fl, o2 + b) * xi;
            s3 += m.get(fl, o3 + b) * xi;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    @Override
    public int batchStride(int n) {
        return n <= 1 ? 1 : (n + L - 1) / L * L;
    }

    /**
     * out[i·rows + r] = W[r]·X[i]: the batch is transposed once (in parallel), then units of (MC rows × up to
     * TOKEN_VECTORS vectors of inputs) are spread over the threads, each computing a transposed block that is
     * written back into rows of out. Splitting the inputs too keeps a unit's slice of them L2-sized.
     */
    @Override
    public void matMul(Weights w, float[] x, int n, float[] out) {
        matMulAll(java.util.List.of(w), x, n, java.util.List.of(out));
    }

    @Override
    public void matMulAll(java.util.List<Weights> ws, float[] x, int n, java.util.List<float[]> outs) {
        matMulAll(ws, x, n, outs, true);
    }

    @Override
    public void matMulF32(Weights w, float[] x, int n, float[] out) {
        matMulAll(java.util.List.of(w), x, n, java.util.List.of(out), false);
    }

    private void matMulAll(java.util.List<Weights> ws, float[] x, int n, java.util.List<float[]> outs, boolean amx) {
        if (n <= 0) return;
        int m = ws.size();
        int cols = ws.getFirst().cols();
        for (int i = 0; i < m; i++) {
            Weights w = ws.get(i);
            if (w.cols() != cols) throw new IllegalArgumentException("matrices of " + w.cols() + " and " + cols + " columns");
            checkInput(w, x, 0, n);
            if ((long) n * w.rows() > outs.get(i).length) {
                throw new IndexOutOfBoundsException("out has " + outs.get(i).length + " < " + n + "·" + w.rows());
            }
        }
        if (n == 1) {
            // Row blocks of every matrix, numbered across the matrices, so one parallel region covers them all.
            OneInputBlocks blocks = OneInputBlocks.of(ws);
            float[] xp = pairInput(ws, x, 0);
            Parallel.forRange(blocks.count(), blocks.workPerBlock(), (from, to) -> {
                Scratch s = SCRATCH.get();
                for (int b = from; b < to; b++) {
                    int i = blocks.matrixOf(b);
                    rowDots(ws.get(i), blocks.rowFrom(i, b), blocks.rowTo(i, b), x, 0, xp, outs.get(i),
                            blocks.rowFrom(i, b), s);
                }
            });
            return;
        }
        int vectors = batchStride(n) / L;
        int tokenBlocks = (vectors + TOKEN_VECTORS - 1) / TOKEN_VECTORS;
        int blockRows = batchBlockRows(ws, tokenBlocks);
        int[] firstBlock = OneInputBlocks.firstBlocks(ws, blockRows);
        int rowBlocks = firstBlock[m];
        int stride = batchStride(n);
        BatchBuffers kept = BATCH_BUFFERS.get();
        float[] xT = Batches.transposed(x, n, cols, stride, kept.xT);
        TransposedBatch batch = amx ? packAll(xT, n, stride, cols, ws.getFirst().dtype(), kept.packed) : null;
        kept.keep(xT, batch);
        if (batch != null && ws.stream().allMatch(w -> w.dtype() == DType.F8_E4M3)) {
            panelProducts(ws, n, outs, xT, batch);
            return;
        }
        Parallel.forRange(rowBlocks * tokenBlocks, (long) blockRows * cols * Math.min(n, TOKEN_VECTORS * L), (from, to) -> {
            float[] yT = new float[blockRows * TOKEN_VECTORS * L];
            Scratch s = SCRATCH.get();
            for (int u = from; u < to; u++) {
                int b = u / tokenBlocks, tb = u % tokenBlocks;
                int i = OneInputBlocks.matrixOf(firstBlock, b);
                Weights w = ws.get(i);
                float[] out = outs.get(i);
                int rows = w.rows();
                int r0 = (b - firstBlock[i]) * blockRows, r1 = Math.min(rows, r0 + blockRows);
                int v0 = tb * TOKEN_VECTORS, nv = Math.min(TOKEN_VECTORS, vectors - v0);
                int ys = nv * L;
                if (batch != null && AmxBf16.fits(w, r1 - r0, batch)) {
                    tiles(w, r0, r1 - r0, batch.packed(), v0 * L, ys, yT, 0, ys);
                } else {
                    block(w, r0, r1, xT, stride, v0, nv, yT, 0, ys, s);
                }
                int i0 = v0 * L, i1 = Math.min(n, i0 + ys);
                for (int t = i0; t < i1; t++) {
                    int o = t * rows, c = t - i0;
                    for (int r = r0; r < r1; r++) out[o + r] = yT[(r - r0) * ys + c];
                }
            }
        });
    }

    /**
     * matMulAll of FP8 matrices with a batch packed for the tiles: a unit is a block of rows with every input, so each
     * weight is dequantised into a BF16 panel once per call ({@link QuantPanels}). Blocks whose rows are not whole
     * tiles take the F32 register tiles.
     */
    private static void panelProducts(java.util.List<Weights> ws, int n, java.util.List<float[]> outs, float[] xT,
                                      TransposedBatch batch) {
        int stride = batch.stride(), cols = batch.cols(), vectors = stride / L;
        int blockRows = batchBlockRows(ws, 1);
        int[] firstBlock = OneInputBlocks.firstBlocks(ws, blockRows);
        Parallel.forRange(firstBlock[ws.size()], (long) blockRows * cols * n, (from, to) -> {
            float[] yT = new float[blockRows * stride];
            Scratch s = SCRATCH.get();
            for (int b = from; b < to; b++) {
                int i = OneInputBlocks.matrixOf(firstBlock, b);
                Weights w = ws.get(i);
                float[] out = outs.get(i);
                int rows = w.rows(), r0 = (b - firstBlock[i]) * blockRows, r1 = Math.min(rows, r0 + blockRows);
                if (QuantPanels.takes(w, r1 - r0, batch)) {
                    QuantPanels.multiply((p0, p1) -> QuantPanels.fp8Panel(w, p0, p1), cols, r0, r1, batch.packed(), 0,
                            stride, yT, 0, stride);
                } else {
                    block(w, r0, r1, xT, stride, 0, vectors, yT, 0, stride, s);
                }
                for (int t = 0; t < n; t++) {
                    int o = t * rows;
                    for (int r = r0; r < r1; r++) out[o + r] = yT[(r - r0) * stride + t];
                }
            }
        });
    }

    @Override
    public Parallel.NextCall nextOneInput(java.util.List<Weights> ws) {
        OneInputBlocks blocks = OneInputBlocks.of(ws);
        return new Parallel.NextCall(blocks.count(), blocks.workPerBlock(), b -> {
            int i = blocks.matrixOf(b);
            return ws.get(i).readRows(blocks.rowFrom(i, b), blocks.rowTo(i, b));
        });
    }

    @Override
    public TransposedBatch batch(float[] xT, int n, int stride, int cols, DType weights, TransposedBatch reuse) {
        if (n == 1 && stride == 1 && pairKernel(weights, cols)) {
            float[] p = reuse != null && reuse.pairs() != null && reuse.pairs().length >= cols ? reuse.pairs()
                    : new float[cols];
            return new TransposedBatch(xT, 1, 1, cols, null, p);
        }
        if (!AmxBf16.worthPacking(weights, n, cols)) return new TransposedBatch(xT, n, stride, cols, null);
        return new TransposedBatch(xT, n, stride, cols, AmxBf16.allocate(n, cols, reuse == null ? null : reuse.packed()));
    }

    @Override
    public void pack(TransposedBatch x, int colFrom, int colTo) {
        if (x.packed() != null) AmxBf16.pack(x.xT(), x.n(), x.stride(), x.packed(), colFrom, colTo);
        if (x.pairs() != null) pairLayout(x.xT(), 0, x.cols(), colFrom, colTo, x.pairs());
    }

    @Override
    public void matMulT(Weights w, int rowFrom, int rowTo, TransposedBatch x, float[] yT, int yOff) {
        if (rowFrom < rowTo && AmxBf16.fits(w, rowTo - rowFrom, x)) {
            tiles(w, rowFrom, rowTo - rowFrom, x.packed(), 0, x.stride(), yT, yOff, x.stride());
        } else if (rowFrom < rowTo && QuantPanels.takes(w, rowTo - rowFrom, x)) {
            QuantPanels.multiply((r0, r1) -> QuantPanels.fp8Panel(w, r0, r1), w.cols(), rowFrom, rowTo, x.packed(), 0,
                    x.stride(), yT, yOff, x.stride());
        } else if (x.pairs() != null && w.dtype() == DType.BF16 && w.cols() == x.cols()) {
            checkInput(w, x.xT(), 0, 1);
            rowDots(w, rowFrom, rowTo, x.xT(), 0, x.pairs(), yT, yOff, SCRATCH.get());
        } else {
            matMulT(w, rowFrom, rowTo, x.xT(), x.n(), x.stride(), yT, yOff);
        }
    }

    /**
     * The AMX product of {@code rows} weight rows from r0 with inputs [t0, t0 + width) of a packed batch, into y at
     * yOff, rows ys ≥ width apart. Tiles write inputs 16 at a time: where ys is not a multiple of 16 (vectors
     * narrower than the 16 floats of AVX-512, which every AMX CPU has; or the Java model of the tiles in tests) they
     * go through a buffer.
     */
    static void tiles(Weights w, int r0, int rows, Bf16Pairs p, int t0, int width, float[] y, int yOff, int ys) {
        int tokens = (width + AmxBf16.TILE - 1) / AmxBf16.TILE * AmxBf16.TILE;
        if (tokens <= ys) {
            AmxBf16.multiply(w, r0, rows, p, t0, tokens, y, yOff, ys);
            return;
        }
        float[] tmp = new float[rows * tokens];
        AmxBf16.multiply(w, r0, rows, p, t0, tokens, tmp, 0, tokens);
        for (int r = 0; r < rows; r++) System.arraycopy(tmp, r * tokens, y, yOff + r * ys, width);
    }

    /**
     * matMulAll's transposed batch and its packing, kept per calling thread for the next call (a prefill's q/k/v and
     * o_proj batches are MBs each), up to {@link #KEPT_ELEMENTS} elements each: 2^24 (64 MB), or a sixteenth of
     * the heap on small heaps.
     */
    private static final class BatchBuffers {
        static final long KEPT_ELEMENTS = Math.min(1L << 24, Runtime.getRuntime().maxMemory() / 4 / 16);
        float[] xT;
        TransposedBatch packed;
        /** A single input in pair layout (one-input products of this thread, the one running at a time). */
        private float[] pairs = new float[0];

        /** x[xo, +n) in pair layout, in this thread's buffer (valid until its next call). */
        float[] pairs(float[] x, int xo, int n) {
            if (pairs.length < n) pairs = new float[n];
            pairLayout(x, xo, n, 0, n, pairs);
            return pairs;
        }

        void keep(float[] x, TransposedBatch b) {
            if (x.length <= KEPT_ELEMENTS) xT = x;
            if (b != null && b.packedSize() <= 2L * KEPT_ELEMENTS) packed = b;
        }
    }

    private static final ThreadLocal<BatchBuffers> BATCH_BUFFERS = ThreadLocal.withInitial(BatchBuffers::new);

    /** The whole transposed batch packed for the tiles (columns spread over the threads), or null without them. */
    private TransposedBatch packAll(float[] xT, int n, int stride, int cols, DType weights, TransposedBatch reuse) {
        TransposedBatch b = batch(xT, n, stride, cols, weights, reuse);
        if (b.packed() == null) return null;
        int pairs = cols / 2;
        Parallel.forRange(pairs, 8L * n, (from, to) -> pack(b, 2 * from, 2 * to));
        return b;
    }

    /** MC rows per unit of a batch product, or fewer for few rows (a router's 64), so every thread gets a unit. */
    private static int batchBlockRows(java.util.List<Weights> ws, int tokenBlocks) {
        int rows = MC;
        while (rows > 16) {
            int blocks = 0;
            for (Weights w : ws) blocks += (w.rows() + rows - 1) / rows;
            if (blocks * tokenBlocks >= Parallel.threads()) break;
            rows /= 2;
        }
        return rows;
    }

    @Override
    public void matMulT(Weights w, int rowFrom, int rowTo, float[] xT, int n, int stride, float[] yT, int yOff) {
        if (rowFrom >= rowTo || n <= 0) return;
        int cols = w.cols();
        Scratch s = SCRATCH.get();
        if (stride == 1) {
            if (n != 1) throw new IllegalArgumentException("stride 1 holds one input, not " + n);
            rowDots(w, rowFrom, rowTo, xT, 0, null, yT, yOff, s);
            return;
        }
        if (stride < n || stride % L != 0) {
            throw new IllegalArgumentException("stride " + stride + " for " + n + " inputs; use batchStride(n)");
        }
        if ((long) cols * stride > xT.length || yOff + (long) (rowTo - rowFrom) * stride > yT.length) {
            throw new IndexOutOfBoundsException("xT or yT too short for rows [" + rowFrom + ", " + rowTo + ") × " + stride);
        }
        if (n <= DOT_MAX_INPUTS) {
            dotsPerInput(w, rowFrom, rowTo, xT, n, stride, yT, yOff, s);
            return;
        }
        block(w, rowFrom, rowTo, xT, stride, 0, (n + L - 1) / L, yT, yOff, stride, s);
    }

    /**
     * A few inputs: row dot products per input, the rows read from L1 again for each input. Broadcasting weights
     * against mostly empty vectors of inputs would spend a broadcast and an FMA per weight for n useful lanes; a dot
     * product spends about 2/L instructions per weight and input (plus a horizontal sum per row and input).
     */
    private static void dotsPerInput(Weights w, int rowFrom, int rowTo, float[] xT, int n, int stride, float[] yT,
                                     int yOff, Scratch s) {
        int cols = w.cols();
        float[] x = new float[n * cols];
        for (int c = 0; c < cols; c++) {
            for (int i = 0; i < n; i++) x[i * cols + c] = xT[c * stride + i];
        }
        float[] four = new float[4];
        for (int r0 = rowFrom; r0 < rowTo; r0 += DOT_BLOCK_ROWS) {
            int r1 = Math.min(rowTo, r0 + DOT_BLOCK_ROWS);
            for (int i = 0; i < n; i++) {
                for (int r = r0; r < r1; r += 4) {
                    int rr = Math.min(4, r1 - r);
                    rowDots(w, r, r + rr, x, i * cols, null, four, 0, s);
                    for (int j = 0; j < rr; j++) yT[yOff + (r + j - rowFrom) * stride + i] = four[j];
                }
            }
        }
    }

    /**
     * Rows [rowFrom, rowTo) × input vectors [v0, v0 + nv) of xT (whose rows are {@code stride} apart) into yT at
     * yOff, rows {@code ys} apart. Per MC rows and KC columns, the weights are decoded once into the panel (L2), then
     * each pair of input vectors (KC × 2 vectors, L1) is swept by every register tile of the panel.
     */
    private static void block(Weights w, int rowFrom, int rowTo, float[] xT, int stride, int v0, int nv, float[] yT,
                              int yOff, int ys, Scratch s) {
        int cols = w.cols();
        float[] p = s.panel;
        for (int m0 = rowFrom; m0 < rowTo; m0 += MC) {
            int mr = Math.min(MC, rowTo - m0);
            int yb = yOff + (m0 - rowFrom) * ys;
            for (int k0 = 0; k0 < cols; k0 += KC) {
                int kl = Math.min(KC, cols - k0);
                boolean first = k0 == 0;
                for (int j = 0; j < mr; j++) decode(w, m0 + j, k0, kl, p, j * KC, s);
                int v = 0;
                for (; v + 2 <= nv; v += 2) {
                    // The tiles read 2 vectors of inputs per column for KC columns, which must stay in L1 while every
                    // row of the panel sweeps them. Rows of a wide batch lie `stride` floats apart, a power of two
                    // apart for most batch sizes, so they would crowd a few L1 sets: copy them next to each other.
                    int xo = k0 * stride + (v0 + v) * L, xStride = stride;
                    float[] xPanel = xT;
                    if (stride != 2 * L) {
                        pack(xT, xo, stride, kl, 2, s.packed);
                        xPanel = s.packed;
                        xo = 0;
                        xStride = 2 * L;
                    }
                    int yo = yb + v * L;
                    int j = 0;
                    if (wideTile) {
                        for (; j + 6 <= mr; j += 6) tile6x2(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, ys, first);
                    }
                    for (; j + 4 <= mr; j += 4) tile4x2(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, ys, first);
                    for (; j + 2 <= mr; j += 2) tile2x2(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, ys, first);
                    for (; j < mr; j++) tile1x2(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, first);
                }
                if (v < nv) {
                    int xo = k0 * stride + (v0 + v) * L, xStride = stride;
                    float[] xPanel = xT;
                    if (stride != L) {
                        pack(xT, xo, stride, kl, 1, s.packed);
                        xPanel = s.packed;
                        xo = 0;
                        xStride = L;
                    }
                    int yo = yb + v * L;
                    int j = 0;
                    for (; j + 8 <= mr; j += 8) tile8x1(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, ys, first);
                    for (; j + 4 <= mr; j += 4) tile4x1(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, ys, first);
                    for (; j < mr; j++) tile1x1(p, j * KC, kl, xPanel, xo, xStride, yT, yo + j * ys, first);
                }
            }
        }
    }

    /** Copies {@code vectors} vectors of inputs for each of kl columns (xT rows {@code stride} apart) into dst, packed. */
    private static void pack(float[] xT, int xo, int stride, int kl, int vectors, float[] dst) {
        int width = vectors * L;
        for (int k = 0, d = 0, src = xo; k < kl; k++, d += width, src += stride) {
            System.arraycopy(xT, src, dst, d, width);
        }
    }

    private static void tile8x1(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, int ys,
                                boolean first) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {
            FloatVector x0 = FloatVector.fromArray(F, xT, xi);
            a0 = FloatVector.broadcast(F, p[k]).fma(x0, a0);
            a1 = FloatVector.broadcast(F, p[KC + k]).fma(x0, a1);
            a2 = FloatVector.broadcast(F, p[2 * KC + k]).fma(x0, a2);
            a3 = FloatVector.broadcast(F, p[3 * KC + k]).fma(x0, a3);
            a4 = FloatVector.broadcast(F, p[4 * KC + k]).fma(x0, a4);
            a5 = FloatVector.broadcast(F, p[5 * KC + k]).fma(x0, a5);
            a6 = FloatVector.broadcast(F, p[6 * KC + k]).fma(x0, a6);
            a7 = FloatVector.broadcast(F, p[7 * KC + k]).fma(x0, a7);
        }
        put(y, yo, first, a0);
        put(y, yo + ys, first, a1);
        put(y, yo + 2 * ys, first, a2);
        put(y, yo + 3 * ys, first, a3);
        put(y, yo + 4 * ys, first, a4);
        put(y, yo + 5 * ys, first, a5);
        put(y, yo + 6 * ys, first, a6);
        put(y, yo + 7 * ys, first, a7);
    }

    // Register tiles: decoded weights p[row·KC + k] broadcast against input vectors xT[xo + k·stride (+ L)],
    // results added over KC blocks at yT[yo + row·stride (+ L)] (stored on the first block). Each size is written
    // out by hand: C2 keeps vectors in registers only as named locals (an array of accumulators would be boxed).

    private static void tile6x2(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, int ys,
                                boolean first) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        FloatVector a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {
            FloatVector x0 = FloatVector.fromArray(F, xT, xi);
            FloatVector x1 = FloatVector.fromArray(F, xT, xi + L);
            FloatVector w = FloatVector.broadcast(F, p[k]);
            a00 = w.fma(x0, a00);
            a01 = w.fma(x1, a01);
            w = FloatVector.broadcast(F, p[KC + k]);
            a10 = w.fma(x0, a10);
            a11 = w.fma(x1, a11);
            w = FloatVector.broadcast(F, p[2 * KC + k]);
            a20 = w.fma(x0, a20);
            a21 = w.fma(x1, a21);
            w = FloatVector.broadcast(F, p[3 * KC + k]);
            a30 = w.fma(x0, a30);
            a31 = w.fma(x1, a31);
            w = FloatVector.broadcast(F, p[4 * KC + k]);
            a40 = w.fma(x0, a40);
            a41 = w.fma(x1, a41);
            w = FloatVector.broadcast(F, p[5 * KC + k]);
            a50 = w.fma(x0, a50);
            a51 = w.fma(x1, a51);
        }
        put(y, yo, first, a00, a01);
        put(y, yo + ys, first, a10, a11);
        put(y, yo + 2 * ys, first, a20, a21);
        put(y, yo + 3 * ys, first, a30, a31);
        put(y, yo + 4 * ys, first, a40, a41);
        put(y, yo + 5 * ys, first, a50, a51);
    }

    private static void tile4x2(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, int ys,
                                boolean first) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {
            FloatVector x0 = FloatVector.fromArray(F, xT, xi);
            FloatVector x1 = FloatVector.fromArray(F, xT, xi + L);
            FloatVector w = FloatVector.broadcast(F, p[k]);
            a00 = w.fma(x0, a00);
            a01 = w.fma(x1, a01);
            w = FloatVector.broadcast(F, p[KC + k]);
            a10 = w.fma(x0, a10);
            a11 = w.fma(x1, a11);
            w = FloatVector.broadcast(F, p[2 * KC + k]);
            a20 = w.fma(x0, a20);
            a21 = w.fma(x1, a21);
            w = FloatVector.broadcast(F, p[3 * KC + k]);
            a30 = w.fma(x0, a30);
            a31 = w.fma(x1, a31);
        }
        put(y, yo, first, a00, a01);
        put(y, yo + ys, first, a10, a11);
        put(y, yo + 2 * ys, first, a20, a21);
        put(y, yo + 3 * ys, first, a30, a31);
    }

    private static void tile2x2(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, int ys,
                                boolean first) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00;
        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {
            FloatVector x0 = FloatVector.fromArray(F, xT, xi);
            FloatVector x1 = FloatVector.fromArray(F, xT, xi + L);
            FloatVector w = FloatVector.broadcast(F, p[k]);
            a00 = w.fma(x0, a00);
            a01 = w.fma(x1, a01);
            w = FloatVector.broadcast(F, p[KC + k]);
            a10 = w.fma(x0, a10);
            a11 = w.fma(x1, a11);
        }
        put(y, yo, first, a00, a01);
        put(y, yo + ys, first, a10, a11);
    }

    private static void tile4x1(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, int ys,
                                boolean first) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int k = po, xi = xo; k < po + kl; k++, xi += stride) {
            FloatVector x0 = FloatVector.fromArray(F, xT, xi);
            a0 = FloatVector.broadcast(F, p[k]).fma(x0, a0);
            a1 = FloatVector.broadcast(F, p[KC + k]).fma(x0, a1);
            a2 = FloatVector.broadcast(F, p[2 * KC + k]).fma(x0, a2);
            a3 = FloatVector.broadcast(F, p[3 * KC + k]).fma(x0, a3);
        }
        put(y, yo, first, a0);
        put(y, yo + ys, first, a1);
        put(y, yo + 2 * ys, first, a2);
        put(y, yo + 3 * ys, first, a3);
    }

    private static void tile1x2(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, boolean first) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int k = 0, xi = xo; k < kl; k++, xi += stride) {
            FloatVector w = FloatVector.broadcast(F, p[po + k]);
            a0 = w.fma(FloatVector.fromArray(F, xT, xi), a0);
            a1 = w.fma(FloatVector.fromArray(F, xT, xi + L), a1);
        }
        put(y, yo, first, a0, a1);
    }

    private static void tile1x1(float[] p, int po, int kl, float[] xT, int xo, int stride, float[] y, int yo, boolean first) {
        FloatVector a0 = FloatVector.zero(F);
        for (int k = 0, xi = xo; k < kl; k++, xi += stride) {
            a0 = FloatVector.broadcast(F, p[po + k]).fma(FloatVector.fromArray(F, xT, xi), a0);
        }
        put(y, yo, first, a0);
    }

    private static void put(float[] y, int o, boolean first, FloatVector a) {
        (first ? a : a.add(FloatVector.fromArray(F, y, o))).intoArray(y, o);
    }

    private static void put(float[] y, int o, boolean first, FloatVector a, FloatVector b) {
        put(y, o, first, a);
        put(y, o + L, first, b);
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
        float s = LaneSums.sum(a0.add(a1).add(a2.add(a3)));
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
        float ss = LaneSums.sum(acc);
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
            FloatVector e = Exp.exp(FloatVector.fromArray(F, x, off + i).sub(max));
            e.intoArray(x, off + i);
            sumV = sumV.add(e);
        }
        float sum = LaneSums.sum(sumV);
        for (; i < len; i++) {
            float e = Exp.exp(x[off + i] - max);
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
            FloatVector e = Exp.exp(g.neg()).add(1f);
            g.div(e).mul(FloatVector.fromArray(F, up, uOff + i)).intoArray(out, outOff + i);
        }
        for (; i < len; i++) {
            float g = gate[gOff + i];
            out[outOff + i] = g / (1f + Exp.exp(-g)) * up[uOff + i];
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
