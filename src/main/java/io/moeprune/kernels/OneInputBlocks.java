package io.moeprune.kernels;

import java.util.List;

/**
 * How a one-input product (a decode step's) of several matrices with the same input is cut into parallel work: blocks
 * of consecutive rows of one matrix, numbered across the matrices (batched products number their blocks the same way,
 * with their own block size). The product and its read-ahead
 * ({@link Parallel#readAheadFor}) take the same blocks, so a thread reads ahead exactly the rows it will compute.
 *
 * @param firstBlock   block numbers where each matrix starts (and, last, the count)
 * @param blockRows    rows per block (the last of a matrix may be shorter)
 * @param workPerBlock what {@link Parallel#forRange} is told a block costs
 */
record OneInputBlocks(List<Weights> matrices, int[] firstBlock, int blockRows, long workPerBlock) {

    static OneInputBlocks of(List<Weights> ws) {
        long bytes = 0;
        for (Weights w : ws) bytes += w.byteSize();
        // A small product (a router's 64 rows) is bound by the latency of its few streams: blocks of 8 rows counted at
        // 4× their bytes spread it over up to 8× more threads than the least work per thread would.
        boolean small = KernelSwitches.SMALL_SPLIT.getPlain()
                && bytes < Parallel.threads() * KernelSwitches.MIN_WORK_PER_THREAD.getPlain();
        int blockRows = small ? 8 : KernelSwitches.DECODE_BLOCK_ROWS.getPlain();
        Weights w0 = ws.getFirst();
        long work = (small ? 4L : 1L) * blockRows * w0.cols() * w0.dtype().byteSize();
        return new OneInputBlocks(ws, firstBlocks(ws, blockRows), blockRows, work);
    }

    /** Where each matrix's blocks of {@code blockRows} rows start when they are numbered across the matrices. */
    static int[] firstBlocks(List<Weights> ws, int blockRows) {
        int[] first = new int[ws.size() + 1];
        for (int i = 0; i < ws.size(); i++) first[i + 1] = first[i] + (ws.get(i).rows() + blockRows - 1) / blockRows;
        return first;
    }

    /** The matrix that block {@code block} belongs to, blocks numbered as {@link #firstBlocks} numbers them. */
    static int matrixOf(int[] firstBlock, int block) {
        int i = 0;
        while (firstBlock[i + 1] <= block) i++;
        return i;
    }

    int count() {
        return firstBlock[firstBlock.length - 1];
    }

    /** The matrix that block {@code b} belongs to. */
    int matrixOf(int b) {
        return matrixOf(firstBlock, b);
    }

    int rowFrom(int matrix, int b) {
        return (b - firstBlock[matrix]) * blockRows;
    }

    int rowTo(int matrix, int b) {
        return Math.min(matrices.get(matrix).rows(), rowFrom(matrix, b) + blockRows);
    }
}
