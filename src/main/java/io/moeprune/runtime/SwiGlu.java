package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

/** down(silu(gate·x) ⊙ up·x) for a batch of rows, reading each weight matrix once per batch. */
public record SwiGlu(Weights gate, Weights up, Weights down) {

    public int hidden() {
        return gate.cols();
    }

    public int intermediate() {
        return gate.rows();
    }

    public long byteSize() {
        return gate.byteSize() + up.byteSize() + down.byteSize();
    }

    /** out [n, hidden] = SwiGLU of the n rows of x [n, hidden]. */
    public void apply(float[] x, int n, float[] out) {
        apply(x, n, out, null);
    }

    /**
     * {@link #apply}; for a single row (decode), threads out of gate/up rows read the down projection ahead, and those
     * out of down rows read {@code after} (the product that follows, or null) ({@link Parallel#readAheadFor}).
     */
    public void apply(float[] x, int n, float[] out, Parallel.NextCall after) {
        Kernels kernels = Kernels.get();
        int inter = intermediate();
        float[] g = new float[n * inter];
        float[] u = new float[n * inter];
        if (n == 1) Parallel.readAheadFor(kernels.nextOneInput(java.util.List.of(down)));
        kernels.matMulAll(java.util.List.of(gate, up), x, n, java.util.List.of(g, u));
        kernels.siluMul(g, 0, u, 0, g, 0, g.length);
        if (n == 1) Parallel.readAheadFor(after);
        kernels.matMul(down, g, n, out);
    }

    /** Gate and up for a single row, as a coming parallel call ({@link Parallel#readAheadFor}). */
    public Parallel.NextCall firstProduct() {
        return Kernels.get().nextOneInput(java.util.List.of(gate, up));
    }

    static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }
}
