package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
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
        Kernels kernels = Kernels.get();
        int inter = intermediate();
        float[] g = new float[n * inter];
        float[] u = new float[n * inter];
        kernels.matMulAll(java.util.List.of(gate, up), x, n, java.util.List.of(g, u));
        kernels.siluMul(g, 0, u, 0, g, 0, g.length);
        kernels.matMul(down, g, n, out);
    }

    static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }
}
