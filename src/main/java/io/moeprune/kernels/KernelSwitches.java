package io.moeprune.kernels;

/**
 * Kernel choices that a benchmark switches at run time, so that variants are compared in one process, alternated
 * run by run ({@code bench/run decodeAb}): between processes the GPU machine's speed moves by up to 2×, which hides
 * a difference of 10 %. Each setter returns the previous setting. The system property named on each choice sets it
 * at start-up.
 */
public final class KernelSwitches {
    private KernelSwitches() {
    }

    /** One-input BF16 products of at least this many columns take the pair kernel ({@code moeprune.pairMinCols}). */
    public static int pairKernelFrom(int cols) {
        return VectorKernels.usePairKernelFrom(cols);
    }

    /** One-input products take rows spread through the block, not neighbours ({@code moeprune.spreadRows}). */
    public static boolean spreadRows(boolean on) {
        return VectorKernels.useSpreadRows(on);
    }

    /** Spread BF16 rows are read eight at a time, not four ({@code moeprune.eightRows}). */
    public static boolean eightRows(boolean on) {
        return VectorKernels.useEightRows(on);
    }

    /** Chunks per thread of a parallel call ({@code moeprune.chunksPerThread}). */
    public static int chunksPerThread(int n) {
        return Parallel.useChunksPerThread(n);
    }

    /** Least work per thread before a call is split ({@code moeprune.minWorkPerThread}). */
    public static long minWorkPerThread(long bytes) {
        return Parallel.useMinWork(bytes);
    }

    /** Small one-input products are cut in 8-row blocks, spread over more threads ({@code moeprune.smallSplit}). */
    public static boolean smallSplit(boolean on) {
        return VectorKernels.useSmallSplit(on);
    }
}
