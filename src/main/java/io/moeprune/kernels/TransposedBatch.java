package io.moeprune.kernels;

/**
 * A transposed batch of n inputs for {@link Kernels#matMulT(Weights, int, int, TransposedBatch, float[], int)}:
 * input i's column c at xT[c·stride + i], with {@code stride = batchStride(n)}. Kernels may hold the inputs
 * repacked for how they multiply, made by {@link Kernels#batch} and filled by {@link Kernels#pack}: {@code packed}
 * for the AMX tiles (BF16 pairs of a batch), {@code pairs} for the one-input BF16 dot products of the Vector API
 * kernels (the input with each block of 2L columns split into its even then its odd columns). Kernels read xT
 * where they hold neither.
 */
public record TransposedBatch(float[] xT, int n, int stride, int cols, Bf16Pairs packed, float[] pairs) {

    public TransposedBatch(float[] xT, int n, int stride, int cols, Bf16Pairs packed) {
        this(xT, n, stride, cols, packed, null);
    }

    /** Elements the repacked arrays hold, 0 without any: what keeping this batch for reuse would pin. */
    public long packedSize() {
        return (packed == null ? 0 : 2L * packed.hi.length) + (pairs == null ? 0 : pairs.length);
    }
}
