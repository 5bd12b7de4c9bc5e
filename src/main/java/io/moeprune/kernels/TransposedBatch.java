package io.moeprune.kernels;

/**
 * A transposed batch of n inputs for {@link Kernels#matMulT(Weights, int, int, TransposedBatch, float[], int)}:
 * input i's column c at xT[c·stride + i], with {@code stride = batchStride(n)}. Kernels that multiply on other
 * units may hold a repacked copy ({@code packed}, made by {@link Kernels#prepare} / {@link Kernels#pack}); the
 * plain Vector API and scalar kernels read xT itself.
 */
public record TransposedBatch(float[] xT, int n, int stride, int cols, Bf16Pairs packed) {
    /** Elements (ints) the packing's arrays hold, 0 without one: what keeping this batch for reuse would pin. */
    public long packedSize() {
        return packed == null ? 0 : 2L * packed.hi.length;
    }
}
