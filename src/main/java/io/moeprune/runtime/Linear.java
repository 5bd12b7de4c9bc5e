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
        addBias(out, n);
    }

    /**
     * Fresh results of several projections of the same input with the same width (attention's q, k, v), computed
     * in one parallel region.
     */
    public static float[][] applyAll(float[] x, int n, Linear... projections) {
        java.util.List<Weights> ws = new java.util.ArrayList<>();
        java.util.List<float[]> outs = new java.util.ArrayList<>();
        for (Linear p : projections) {
            ws.add(p.weights);
            outs.add(new float[n * p.out()]);
        }
        Kernels.get().matMulAll(ws, x, n, outs);
        for (int i = 0; i < projections.length; i++) projections[i].addBias(outs.get(i), n);
        return outs.toArray(new float[0][]);
    }

    private void addBias(float[] out, int n) {
        if (bias == null) return;
        int rows = out();
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < rows; r++) out[i * rows + r] += bias[r];
        }
    }

    /**
     * A fresh [n, out()] result of {@link #apply} in F32 arithmetic on every kernel ({@link Kernels#matMulF32}): for
     * routers, whose near ties must break as the reference's do.
     */
    public float[] applyF32(float[] x, int n) {
        float[] out = new float[n * out()];
        Kernels.get().matMulF32(weights, x, n, out);
        addBias(out, n);
        return out;
    }

    /** A fresh [n, out()] result of {@link #apply}. */
    public float[] apply(float[] x, int n) {
        float[] out = new float[n * out()];
        apply(x, n, out);
        return out;
    }
}
