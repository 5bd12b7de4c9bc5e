package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Weights;

/** A linear projection y = W x (+ b): weights stay mapped in their stored dtype, the optional bias is F32. */
public record Linear(Weights weights, float[] bias) {

    public int in() {
        return weights.cols();
    }

    public int out() {
        return weights.rows();
    }

    /** out[i] = W·x[i] (+ b) for the n rows of x (row i at i·in()). */
    public void apply(float[] x, int n, float[] out) {
        Kernels.get().matMul(weights, x, n, out);
        if (bias != null) {
            int rows = out();
            for (int i = 0; i < n; i++) {
                for (int r = 0; r < rows; r++) out[i * rows + r] += bias[r];
            }
        }
    }

    /** A fresh [n, out()] result of {@link #apply}. */
    public float[] apply(float[] x, int n) {
        float[] out = new float[n * out()];
        apply(x, n, out);
        return out;
    }
}
