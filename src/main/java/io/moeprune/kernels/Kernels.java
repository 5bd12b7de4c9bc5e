package io.moeprune.kernels;

import io.moeprune.safetensors.DType;

/**
 * The numeric kernels the runtime needs. Weights stay in their stored dtype (F32, BF16, F16, and F8_E4M3 with
 * optional 128×128 block scales, see {@link Weights}); activations are F32 arrays. Two implementations exist:
 * {@link ScalarKernels} (plain Java, the reference) and {@code VectorKernels} (the Vector API); {@link #get()}
 * picks by the system property {@code moeprune.kernels} = {@code auto} (default) | {@code vector} |
 * {@code scalar}. Large matrix products are split over rows across {@link Parallel}'s threads.
 *
 * <p>Results of the two implementations differ only by float rounding (summation order).
 */
public interface Kernels {

    /** out[outOff + r] = Σ_c W[r,c]·x[xOff+c] for every row r of W. */
    void matVec(Weights w, float[] x, int xOff, float[] out, int outOff);

    /**
     * Batched product: for each of the n input rows X[i] (at x[i·w.cols()]), out[i·w.rows() + r] = W[r]·X[i].
     * Reads each weight row once for the whole batch.
     */
    void matMul(Weights w, float[] x, int n, float[] out);

    /**
     * {@link #matMul} of several matrices with the same number of columns on the same input in one parallel region
     * (attention's q, k, v projections; a SwiGLU's gate and up): outs[i] = ws[i]·X, the input transposed once.
     */
    default void matMulAll(java.util.List<Weights> ws, float[] x, int n, java.util.List<float[]> outs) {
        for (int i = 0; i < ws.size(); i++) matMul(ws.get(i), x, n, outs.get(i));
    }

    /**
     * The one-input {@link #matMulAll} of these matrices as a coming call, for idle threads to read ahead
     * ({@link Parallel#readAheadFor}); null where the kernels do not cut it that way.
     */
    default Parallel.NextCall nextOneInput(java.util.List<Weights> ws) {
        return null;
    }

    /**
     * The layout {@link #matMulT} wants for a batch of n inputs: the distance between consecutive columns of the
     * transposed batch. 1 for n = 1 (a plain vector); otherwise at least n, and for the vector kernels a multiple
     * of the vector length so every column is whole vectors of inputs.
     */
    int batchStride(int n);

    /**
     * Rows [rowFrom, rowTo) of W times a transposed batch, on the calling thread (callers spread row ranges over
     * their own threads): yT[yOff + (r − rowFrom)·stride + i] = Σ_c W[r,c]·xT[c·stride + i] for every i < n, where
     * {@code stride = batchStride(n)} and xT holds input i's column c at c·stride + i. Lanes [n, stride) of yT
     * receive unspecified (finite, if xT's are) values.
     *
     * <p>This is the expert kernel: an MoE block gathers each expert's tokens straight into this layout, so
     * every decoded weight is broadcast once against vectors of tokens, with no per-call weight repacking.
     */
    void matMulT(Weights w, int rowFrom, int rowTo, float[] xT, int n, int stride, float[] yT, int yOff);

    /**
     * A transposed batch (see {@link #matMulT}) of n inputs × cols columns, for products with weights of dtype
     * {@code weights}. Kernels that multiply on other units repack the inputs once per batch (AMX tiles want BF16
     * pairs): this sets up the arrays, in {@code reuse}'s when it is large enough (null for none), and
     * {@link #pack} fills them. Until packed, products read nothing from the packing; xT is kept, not copied.
     */
    default TransposedBatch batch(float[] xT, int n, int stride, int cols, DType weights, TransposedBatch reuse) {
        return new TransposedBatch(xT, n, stride, cols, null);
    }

    /**
     * Packs columns [colFrom, colTo) of the batch's xT (both even, or colTo = cols) as it is now; callers spread
     * column ranges over their threads. Nothing to do for kernels that read xT directly.
     */
    default void pack(TransposedBatch x, int colFrom, int colTo) {
    }

    /** {@link #batch} and {@link #pack} of every column, on the calling thread. */
    default TransposedBatch prepare(float[] xT, int n, int stride, int cols, DType weights, TransposedBatch reuse) {
        TransposedBatch b = batch(xT, n, stride, cols, weights, reuse);
        pack(b, 0, cols);
        return b;
    }

    /** {@link #matMulT} on a batch made by {@link #batch}, packed over all its columns. */
    default void matMulT(Weights w, int rowFrom, int rowTo, TransposedBatch x, float[] yT, int yOff) {
        matMulT(w, rowFrom, rowTo, x.xT(), x.n(), x.stride(), yT, yOff);
    }

    /**
     * {@link #matMul} in F32 arithmetic on every kernel, for router logits: an expert choice decided by a near tie
     * must break as the F32 reference breaks it, so the router never runs on faster reduced-precision units.
     */
    default void matMulF32(Weights w, float[] x, int n, float[] out) {
        matMul(w, x, n, out);
    }

    /** Σ a[aOff+i]·b[bOff+i] for i < len. */
    float dot(float[] a, int aOff, float[] b, int bOff, int len);

    /** y[yOff+i] += alpha·x[xOff+i] for i < len. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len);

    /**
     * RMS norm: out[outOff+i] = x[xOff+i] · weight[i] / sqrt(mean(x²) + eps) over len elements; {@code weight}
     * null means all ones. {@code out} may be {@code x} (in place).
     */
    void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff, int len);

    /** Softmax of x[off..off+len) in place (max-subtracted, so large logits do not overflow). */
    void softmax(float[] x, int off, int len);

    /** SwiGLU: out[outOff+i] = silu(gate[gOff+i]) · up[uOff+i], silu(g) = g / (1 + e^-g). out may alias gate or up. */
    void siluMul(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int len);

    /** Element-wise add (residual connections): y[yOff+i] += x[xOff+i] for i < len. */
    void add(float[] x, int xOff, float[] y, int yOff, int len);

    /** x[off+i] *= alpha for i < len. */
    void scale(float[] x, int off, int len, float alpha);

    /** Columns [c0, c1) of row r of W decoded to F32 (FP8 times its block scales): dst[off + c − c0] = W[r, c]. */
    default void decodeRow(Weights w, int r, int c0, int c1, float[] dst, int off) {
        w.readRow(r, c0, c1, dst, off);
    }

    /** y[yOff + c] += alpha · W[r, c] for every column c of row r (a row of an input-major product). */
    default void rowAxpy(Weights w, int r, float alpha, float[] y, int yOff) {
        int cols = w.cols();
        float[] row = new float[Math.min(cols, 256)];   // decoded a block at a time: a row may be thousands wide
        for (int c0 = 0; c0 < cols; c0 += row.length) {
            int c1 = Math.min(cols, c0 + row.length);
            decodeRow(w, r, c0, c1, row, 0);
            axpy(alpha, row, 0, y, yOff + c0, c1 - c0);
        }
    }

    /**
     * out[outOff + r − rowFrom] = Σ_c W[r, c] · x[c] for rows [rowFrom, rowTo) of an MXFP4 matrix, on the calling thread
     * (callers spread row ranges over their threads); xd is x as {@link Mxfp4Matrix#deinterleave} orders it.
     */
    default void mxfp4Rows(Mxfp4Matrix w, int rowFrom, int rowTo, float[] xd, float[] out, int outOff) {
        w.dotRows(rowFrom, rowTo, xd, out, outOff);
    }

    /**
     * Rows [rowFrom, rowTo) of an MXFP4 matrix decoded to F32 into dst, row after row, in the column order
     * {@link Mxfp4Matrix#decodeRows} gives (the deinterleaved order products read x in).
     */
    default void mxfp4DecodeRows(Mxfp4Matrix w, int rowFrom, int rowTo, float[] dst) {
        w.decodeRows(rowFrom, rowTo, dst);
    }

    /**
     * {@link #matMulT} of rows [rowFrom, rowTo) of an MXFP4 matrix with a batch made by {@link #batch} in the
     * deinterleaved column order ({@link Mxfp4Matrix#deinterleave}). Here: 128 rows at a time decoded to F32 (this
     * thread's scratch, in L2) and multiplied on the batch kernels; the vector kernels take BF16 panels where the
     * batch is packed for the tiles.
     */
    default void mxfp4MatMulT(Mxfp4Matrix w, int rowFrom, int rowTo, TransposedBatch x, float[] yT, int yOff) {
        // 128 rows (1.5 MB of F32 for gpt-oss, about L2): the register tiles repack their inputs once per call.
        int cols = w.cols(), chunk = 128;
        float[] decoded = QuantPanels.floats(chunk * cols);
        var segment = java.lang.foreign.MemorySegment.ofArray(decoded);
        for (int r0 = rowFrom; r0 < rowTo; r0 += chunk) {
            int rows = Math.min(chunk, rowTo - r0);
            mxfp4DecodeRows(w, r0, r0 + rows, decoded);
            Weights f32 = new Weights(segment.asSlice(0, 4L * rows * cols), DType.F32, rows, cols);
            matMulT(f32, 0, rows, x, yT, yOff + (r0 - rowFrom) * x.stride());
        }
    }

    /** Whether these are the Vector API kernels (code outside this package that has a vector path asks). */
    default boolean vectorized() {
        return false;
    }

    /** A short description for logs and benchmark tables, e.g. "vector (Vector API, 256-bit (8 floats))". */
    default String description() {
        return getClass().getSimpleName();
    }

    /**
     * Whether batched BF16 products run on the AMX tiles (inputs split hi+lo: ~2.5e-6 relative per product), where a
     * batch and a single row of the same input differ by that much; tests comparing the two allow for it.
     */
    static boolean batchesOnTiles() {
        return AmxBf16.tilesInUse();
    }

    /** The kernels chosen by {@code -Dmoeprune.kernels}. */
    static Kernels get() {
        return KernelSelection.current();
    }

    /**
     * The kernels for a mode name: "scalar", "vector" (a {@link io.moeprune.MoepruneException} when the Vector API
     * is unusable here) or "auto".
     */
    static Kernels named(String mode) {
        return KernelSelection.forMode(mode);
    }
}
