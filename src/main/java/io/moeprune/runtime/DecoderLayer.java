package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

/** Pre-norm decoder layer: x += attn(norm(x)); x += ffn(norm(x)) (branches × the residual multiplier). */
public record DecoderLayer(int index, RmsNorm inputNorm, AttentionLayer attention, RmsNorm postAttentionNorm,
                           FeedForward feedForward, float residualMultiplier) {

    /** Runs the layer in place on the residual rows x [n, hidden]. */
    public void forward(float[] x, int n, int startPos, KvCache cache, ForwardContext ctx) {
        int size = x.length;
        long t = PhaseTimes.start();
        float[] xn = inputNorm.normalizedRows(x, n);
        float[] branch = new float[size];
        t = PhaseTimes.end(PhaseTimes.Phase.NORM, t);
        attention.forward(xn, n, startPos, cache, index, branch);
        t = PhaseTimes.start();
        addScaled(x, branch, n);
        t = PhaseTimes.end(PhaseTimes.Phase.RESIDUAL, t);
        // x now is the residual entering the MLP block: observers see it as h (valid during their call only).
        postAttentionNorm.normalizedRows(x, n, xn);
        PhaseTimes.end(PhaseTimes.Phase.NORM, t);
        feedForward.forward(xn, x, n, startPos, ctx, branch);
        t = PhaseTimes.start();
        addScaled(x, branch, n);
        PhaseTimes.end(PhaseTimes.Phase.RESIDUAL, t);
    }

    /** x += m·branch over the n rows, split by rows across the kernel threads. */
    private void addScaled(float[] x, float[] branch, int n) {
        float m = residualMultiplier;
        int width = x.length / n;
        Kernels kernels = Kernels.get();
        Parallel.forRange(n, 8L * width, (from, to) -> {
            int off = from * width, len = (to - from) * width;
            if (m == 1f) kernels.add(branch, off, x, off, len);
            else kernels.axpy(m, branch, off, x, off, len);
        });
    }
}
