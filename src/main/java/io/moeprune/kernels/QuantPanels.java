package io.moeprune.kernels;

import io.moeprune.safetensors.DType;

import java.lang.foreign.MemorySegment;

/**
 * Quantised weights for the BF16 tiles (issue 20 item 4): a batched product of FP8 E4M3 rows (with their 128×128
 * block scales) or MXFP4 rows dequantises them a panel of rows at a time into this thread's BF16 buffer, and
 * {@link AmxBf16} multiplies the panel as it multiplies a BF16 checkpoint's rows, with the batch packed once. Computing
 * in F32 from FP8 ran at 45-50 GFLOP/s per core on the GPU machine's Xeon, the tiles at about 290 on BF16.
 *
 * <p>What the panel holds: an FP8 weight times its block scale rounded once to the nearest BF16 (relative error at
 * most 2^-9 per weight; the F32 path multiplies the exact value); an MXFP4 weight exactly (a 2-bit significand times
 * a power of two is a BF16). Decode (one input) never comes here. Only where a batch is packed for the tiles, so
 * machines without AMX keep the F32 register tiles, whose panel decoder widens FP8 as it widens BF16.
 * {@code -Dmoeprune.quantPanels=false} turns it off ({@link KernelSwitches#quantPanels(boolean)}).
 */
final class QuantPanels {
    /** Most rows in a panel: past this, one call's rows already cover the tiles' loop well. */
    private static final int MAX_ROWS = 256;

    /** A row range of quantised weights as a BF16 panel (valid until this thread's next panel). */
    @FunctionalInterface
    interface Source {
        Weights panel(int r0, int r1);
    }

    /** Per-thread buffers: the BF16 panel, and F32 rows (MXFP4 rows decode through them). */
    private static final class Buffers {
        short[] bf16 = new short[0];
        float[] f32 = new float[0];
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    private QuantPanels() {
    }

    /** Whether rows [r0, r0 + rows) of w go through BF16 panels with the packed batch x. */
    static boolean takes(Weights w, int rows, TransposedBatch x) {
        return KernelSwitches.QUANT_PANELS.getPlain() && x.packed() != null && w.dtype() == DType.F8_E4M3
                && w.cols() == x.cols() && rows % AmxBf16.TILE == 0;
    }

    /** Whether a batch of MXFP4 rows of this width (and rows % 16 == 0) goes through panels with the packed batch x. */
    static boolean takesMxfp4(int cols, int rows, TransposedBatch x) {
        return KernelSwitches.QUANT_PANELS.getPlain() && x.packed() != null && cols == x.cols()
                && rows % AmxBf16.TILE == 0;
    }

    /** Rows per panel for rows of {@code cols} BF16 weights: {@code moeprune.panelBytes} of them, whole tiles. */
    static int rows(int cols) {
        int rows = KernelSwitches.PANEL_BYTES.getPlain() / (2 * cols) / AmxBf16.TILE * AmxBf16.TILE;
        return Math.max(AmxBf16.TILE, Math.min(MAX_ROWS, rows));
    }

    /** Rows [r0, r1) of FP8 weights times their block scales, rounded to BF16, as weights over this thread's buffer. */
    static Weights fp8(Weights w, int r0, int r1) {
        short[] dst = bf16(r1 - r0, w.cols());
        VectorKernels.fp8ToBf16(w, r0, r1, dst);
        return panel(dst, r1 - r0, w.cols());
    }

    /** {@link #fp8}, or the same rows kept by an open {@link Fp8PanelCache} scope (the same bytes). */
    static Weights fp8Panel(Weights w, int r0, int r1) {
        Weights kept = Fp8PanelCache.panel(w, r0, r1);
        return kept != null ? kept : fp8(w, r0, r1);
    }

    /**
     * Rows [r0, r1) of an MXFP4 matrix, exact in BF16, in the column order of {@link Mxfp4Matrix#decodeRows} (the
     * deinterleaved order its products read the inputs in).
     */
    static Weights mxfp4(Mxfp4Matrix w, int r0, int r1) {
        int cols = w.cols();
        short[] dst = bf16(r1 - r0, cols);
        float[] rows = floats(AmxBf16.TILE * cols);
        for (int r = r0; r < r1; r += AmxBf16.TILE) {
            int to = Math.min(r1, r + AmxBf16.TILE);
            Mxfp4VectorRows.decodeRows(w, r, to, rows);
            VectorKernels.truncateToBf16(rows, (to - r) * cols, dst, (r - r0) * cols);
        }
        return panel(dst, r1 - r0, cols);
    }

    /** This thread's F32 scratch of at least {@code size} floats (rows decoded for the F32 paths). */
    static float[] floats(int size) {
        Buffers b = BUFFERS.get();
        if (b.f32.length < size) b.f32 = new float[size];
        return b.f32;
    }

    private static short[] bf16(int rows, int cols) {
        Buffers b = BUFFERS.get();
        int size = rows * cols;
        if (b.bf16.length < size) b.bf16 = new short[size];
        return b.bf16;
    }

    private static Weights panel(short[] dst, int rows, int cols) {
        return new Weights(MemorySegment.ofArray(dst).asSlice(0, 2L * rows * cols), DType.BF16, rows, cols);
    }

    /**
     * rows [rowFrom, rowTo) of a matrix, a panel at a time ({@link #rows} of {@code cols} each), each multiplied on the
     * tiles by inputs [t0, t0 + width) of the packed batch p into y at yOff, rows ys apart.
     */
    static void multiply(Source source, int cols, int rowFrom, int rowTo, Bf16Pairs p, int t0, int width, float[] y,
                         int yOff, int ys) {
        int step = rows(cols);
        for (int r = rowFrom; r < rowTo; r += step) {
            int r1 = Math.min(rowTo, r + step);
            VectorKernels.tiles(source.panel(r, r1), 0, r1 - r, p, t0, width, y, yOff + (r - rowFrom) * ys, ys);
        }
    }
}
