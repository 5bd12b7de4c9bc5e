package io.moeprune.kernels;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.DType;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Products of BF16 weights with batches of F32 inputs on Intel AMX tiles (TDPBF16PS), for the batched kernels of
 * {@link VectorKernels}. The weights are read in place from the mapped checkpoint; the inputs are repacked once per
 * batch into {@link Bf16Pairs}, split as hi + lo so the product is F32-exact up to summation order (relative
 * error about 2.5e-6 measured on the GPU machine's Xeon, against 1.6e-3 for BF16 inputs alone). Two tile
 * products per weight tile still run 3-6× faster per core than the F32 FMA kernels there (BENCHMARKS.md,
 * 2026-11-23: 217-424 against 47-73 GFLOP/s on expert shapes, packing included).
 *
 * <p>{@code -Dmoeprune.amx} = {@code auto} (default: the native tiles where the CPU and OS offer them) |
 * {@code off} | {@code on} (a one-line error where they are unavailable) | {@code emulate} (a Java model of the tile
 * product: slow, for testing the packing and dispatch on machines without AMX).
 */
final class AmxBf16 {
    /** Rows of weights and inputs per tile. */
    static final int TILE = 16;
    /** Columns (BF16 weights) per tile row: 64 bytes. */
    static final int K_STEP = 32;
    /** Fewest inputs worth the tiles: a single input (decode) is memory-bound and stays on the vector kernel. */
    static final int MIN_INPUTS = Math.max(2, Integer.getInteger("moeprune.amxMinInputs", 2));

    enum Backend { OFF, NATIVE, EMULATED }

    /** Packing runs on the Vector API (this class is only reached through {@link VectorKernels}). */
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private static volatile Backend forced;
    /** The property's value and the backend chosen for it (tests change the property between cases). */
    private static volatile Object[] chosen = {null, null};

    private AmxBf16() {
    }

    /** The backend in use: by {@code -Dmoeprune.amx}, unless a test forced one. */
    static Backend backend() {
        Backend f = forced;
        if (f != null) return f;
        String mode = System.getProperty("moeprune.amx", "auto").trim();
        Object[] c = chosen;
        if (!mode.equals(c[0])) chosen = c = new Object[] {mode, choose(mode)};
        return (Backend) c[1];
    }

    private static Backend choose(String mode) {
        return switch (mode) {
            case "off" -> Backend.OFF;
            case "emulate" -> Backend.EMULATED;
            case "auto", "" -> AmxNative.unavailable() == null ? Backend.NATIVE : Backend.OFF;
            case "on" -> {
                String why = AmxNative.unavailable();
                if (why != null) throw new MoepruneException("-Dmoeprune.amx=on but " + why);
                yield Backend.NATIVE;
            }
            default -> throw new MoepruneException("-Dmoeprune.amx=" + mode + " is not one of auto, on, off, emulate");
        };
    }

    /** For tests: force a backend (null: back to the property's choice); returns the previous forced one. */
    static Backend force(Backend b) {
        Backend old = forced;
        forced = b;
        return old;
    }

    /**
     * Whether batched BF16 products run on the tiles (native or emulated): their inputs are split hi+lo, about 2.5e-6
     * relative per product, so a batch and a single row of the same input differ by that much (tests that compare a
     * batched path with a one-row path allow for it).
     */
    static boolean tilesInUse() {
        return backend() != Backend.OFF;
    }

    /** A short description for benchmark tables, e.g. "AMX BF16 tiles (hi+lo inputs)" or why they are off. */
    static String description() {
        return switch (backend()) {
            case NATIVE -> "AMX BF16 tiles, inputs split hi+lo";
            case EMULATED -> "AMX emulated in Java";
            case OFF -> "no AMX" + (AmxNative.unavailable() == null ? " (off)" : ": " + AmxNative.unavailable());
        };
    }

    /**
     * Whether a batch of n inputs of width {@code cols}, for weights of this dtype, is worth repacking: BF16 weights,
     * and FP8 ones while they go through BF16 panels ({@link QuantPanels}).
     */
    static boolean worthPacking(DType weights, int n, int cols) {
        boolean tiled = weights == DType.BF16 || weights == DType.F8_E4M3 && KernelSwitches.QUANT_PANELS.getPlain();
        return tiled && n >= MIN_INPUTS && cols % K_STEP == 0 && backend() != Backend.OFF;
    }

    /** Whether rows [r0, r0 + rows) of w can be multiplied by the packed batch x on the tiles. */
    static boolean fits(Weights w, int rows, TransposedBatch x) {
        return x.packed() != null && w.dtype() == DType.BF16 && w.blockScales() == null && w.cols() == x.cols()
                && rows % TILE == 0;
    }

    /** Arrays for a batch of n inputs × cols columns: {@code reuse}'s when large enough. */
    static Bf16Pairs allocate(int n, int cols, Bf16Pairs reuse) {
        int tokens = (n + TILE - 1) / TILE * TILE;
        if (reuse != null && reuse.fits(tokens, cols)) return new Bf16Pairs(reuse.hi, reuse.lo, tokens, cols);
        int size = tokens * (cols / 2);
        return new Bf16Pairs(new int[size], new int[size], tokens, cols);
    }

    /**
     * Packs columns [colFrom, colTo) (both even) of the transposed batch xT (n inputs, columns {@code stride} apart)
     * into p; padding inputs get zeros.
     */
    static void pack(float[] xT, int n, int stride, Bf16Pairs p, int colFrom, int colTo) {
        int tokens = p.tokens, whole = F.loopBound(n);
        for (int kk = colFrom / 2; kk < colTo / 2; kk++) {
            int a = 2 * kk * stride, b = a + stride, o = kk * tokens;
            int t = 0;
            for (; t < whole; t += F.length()) {
                FloatVector x0 = FloatVector.fromArray(F, xT, a + t), x1 = FloatVector.fromArray(F, xT, b + t);
                IntVector h0 = bf16(x0), h1 = bf16(x1);
                IntVector l0 = bf16(x0.sub(h0.reinterpretAsFloats())), l1 = bf16(x1.sub(h1.reinterpretAsFloats()));
                h1.or(h0.lanewise(VectorOperators.LSHR, 16)).intoArray(p.hi, o + t);
                l1.or(l0.lanewise(VectorOperators.LSHR, 16)).intoArray(p.lo, o + t);
            }
            for (; t < n; t++) {
                float x0 = xT[a + t], x1 = xT[b + t];
                int h0 = bf16(x0), h1 = bf16(x1);
                p.hi[o + t] = h1 | h0 >>> 16;
                int l0 = bf16(x0 - Float.intBitsToFloat(h0)), l1 = bf16(x1 - Float.intBitsToFloat(h1));
                p.lo[o + t] = l1 | l0 >>> 16;
            }
            java.util.Arrays.fill(p.hi, o + n, o + tokens, 0);
            java.util.Arrays.fill(p.lo, o + n, o + tokens, 0);
        }
    }

    /** {@link #bf16(float)} lane-wise. */
    static IntVector bf16(FloatVector x) {
        IntVector bits = x.reinterpretAsInts();
        return bits.add(0x7FFF).add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).and(0xFFFF0000);
    }

    /** x rounded to the nearest BF16 (ties to even), as F32 bits whose low 16 are zero. */
    static int bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        return bits + 0x7FFF + (bits >>> 16 & 1) & 0xFFFF0000;
    }

    /**
     * y[yOff + r·ys + t] = Σ_c W[rowFrom + r, c] · input (t0 + t) at column c, for r < rows and t < tokens: rows and
     * tokens are multiples of 16, and so is t0.
     */
    static void multiply(Weights w, int rowFrom, int rows, Bf16Pairs p, int t0, int tokens, float[] y, int yOff, int ys) {
        int cols = w.cols();
        if ((long) yOff + (long) (rows - 1) * ys + tokens > y.length || ys < tokens || t0 + tokens > p.tokens) {
            throw new IndexOutOfBoundsException("tile product of " + rows + " rows × " + tokens + " inputs into "
                    + y.length + " floats at " + yOff + ", rows " + ys + " apart");
        }
        if (backend() == Backend.NATIVE) {
            AmxNative.multiply(w.data().asSlice((long) rowFrom * cols * 2, (long) rows * cols * 2), 2L * cols,
                    p.hi, p.lo, t0, p.tokens, y, yOff, ys, rows, tokens, cols);
        } else {
            emulate(w, rowFrom, rows, p, t0, tokens, y, yOff, ys);
        }
    }

    /** The tile product in Java: the same exact BF16 products, summed in F32 (in another order). */
    private static void emulate(Weights w, int rowFrom, int rows, Bf16Pairs p, int t0, int tokens, float[] y, int yOff,
                                int ys) {
        MemorySegment m = w.data();
        int cols = w.cols();
        for (int r = 0; r < rows; r++) {
            long row = (long) (rowFrom + r) * cols * 2;
            for (int t = 0; t < tokens; t++) {
                float acc = 0;
                for (int kk = 0; kk < cols / 2; kk++) {
                    float w0 = Float.intBitsToFloat(m.get(ValueLayout.JAVA_SHORT_UNALIGNED, row + 4L * kk) << 16);
                    float w1 = Float.intBitsToFloat(m.get(ValueLayout.JAVA_SHORT_UNALIGNED, row + 4L * kk + 2) << 16);
                    int h = p.hi[kk * p.tokens + t0 + t], l = p.lo[kk * p.tokens + t0 + t];
                    acc += w0 * Float.intBitsToFloat(h << 16) + w1 * Float.intBitsToFloat(h & 0xFFFF0000);
                    acc += w0 * Float.intBitsToFloat(l << 16) + w1 * Float.intBitsToFloat(l & 0xFFFF0000);
                }
                y[yOff + r * ys + t] = acc;
            }
        }
    }
}
