package io.moeprune.runtime;

import io.moeprune.kernels.Parallel;

/**
 * RMSNorm in F32 as transformers computes it: x · rsqrt(mean(x²) + eps) · w, over {@code weight.length} elements.
 * The mean is accumulated in double so long rows lose nothing to summation order.
 */
public record RmsNorm(float[] weight, float eps) {

    public int width() {
        return weight.length;
    }

    /** Normalises {@code in[inOff .. inOff+width)} into {@code out[outOff ..]} (may be the same place). */
    public void apply(float[] in, int inOff, float[] out, int outOff) {
        int n = weight.length;
        double ss = 0;
        for (int i = 0; i < n; i++) {
            float v = in[inOff + i];
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt((float) (ss / n) + eps));
        for (int i = 0; i < n; i++) out[outOff + i] = weight[i] * (in[inOff + i] * inv);
    }

    /** Normalises each of the {@code rows} consecutive vectors of width {@link #width()} in place. */
    public void applyRows(float[] x, int rows) {
        normalizedRows(x, rows, x);
    }

    /** A normalised copy of {@code rows} consecutive vectors. */
    public float[] normalizedRows(float[] x, int rows) {
        return normalizedRows(x, rows, new float[rows * weight.length]);
    }

    /** Normalises {@code rows} consecutive vectors of x into out. */
    public float[] normalizedRows(float[] x, int rows, float[] out) {
        int w = weight.length;
        Parallel.forRange(rows, 16L * w, (from, to) -> {
            for (int r = from; r < to; r++) apply(x, r * w, out, r * w);
        });
        return out;
    }
}
