package io.moeprune.kernels;

/**
 * Moves a batch of rows between the row layout the runtime keeps (input i's column c at i·cols + c) and the
 * transposed layout of {@link Kernels#matMulT} (at c·stride + i).
 */
public final class Batches {
    /** Columns per parallel slice of a transposition: enough work to be worth a thread. */
    private static final int COLUMN_BLOCK = 64;
    /** Columns copied at once, so the lines being filled stay in L1 while every row writes into them. */
    private static final int L1_COLUMNS = 16;

    private Batches() {
    }

    /** A new transposed copy of the n rows of x [n, cols], with the given stride (≥ n; unused lanes are 0). */
    public static float[] transposed(float[] x, int n, int cols, int stride) {
        return transposed(x, n, cols, stride, null);
    }

    /**
     * The transposed copy written into {@code reuse} when it is large enough (its unused lanes then keep what they
     * held: the kernels only carry them into outputs nobody reads), else into a new array (unused lanes 0).
     */
    public static float[] transposed(float[] x, int n, int cols, int stride, float[] reuse) {
        if (stride < n) throw new IllegalArgumentException("stride " + stride + " < " + n);
        float[] xT = reuse != null && reuse.length >= cols * stride ? reuse : new float[cols * stride];
        int[] rowStarts = new int[n];
        for (int i = 0; i < n; i++) rowStarts[i] = i * cols;
        int blocks = (cols + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        Parallel.forRange(blocks, 4L * COLUMN_BLOCK * n, (from, to) ->
                gather(x, rowStarts, from * COLUMN_BLOCK, Math.min(cols, to * COLUMN_BLOCK), xT, stride));
        return xT;
    }

    /**
     * Columns [c0, c1) of the rows of x starting at {@code rowStarts[j]} into xT[c·stride + j], on the calling
     * thread (an MoE block gathers each expert's tokens this way).
     */
    public static void gather(float[] x, int[] rowStarts, int c0, int c1, float[] xT, int stride) {
        for (int b0 = c0; b0 < c1; b0 += L1_COLUMNS) {
            int b1 = Math.min(c1, b0 + L1_COLUMNS);
            for (int j = 0; j < rowStarts.length; j++) {
                int src = rowStarts[j];
                for (int c = b0; c < b1; c++) xT[c * stride + j] = x[src + c];
            }
        }
    }
}
