package io.moeprune.kernels;

/**
 * Moves a batch of rows between the row layout the runtime keeps (input i's column c at i·cols + c) and the
 * transposed layout of {@link Kernels#matMulT} (at c·stride + i).
 */
public final class Batches {
    /** Columns per parallel slice of a transposition: enough work to be worth a thread. */
    private static final int COLUMN_BLOCK = 64;

    private Batches() {
    }

    /** A new transposed copy of the n rows of x [n, cols], with the given stride (≥ n; unused lanes are 0). */
    public static float[] transposed(float[] x, int n, int cols, int stride) {
        if (stride < n) throw new IllegalArgumentException("stride " + stride + " < " + n);
        float[] xT = new float[cols * stride];
        int blocks = (cols + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        Parallel.forRange(blocks, 4L * COLUMN_BLOCK * n, (from, to) -> {
            int c0 = from * COLUMN_BLOCK, c1 = Math.min(cols, to * COLUMN_BLOCK);
            for (int i = 0; i < n; i++) {
                int src = i * cols;
                for (int c = c0; c < c1; c++) xT[c * stride + i] = x[src + c];
            }
        });
        return xT;
    }
}
