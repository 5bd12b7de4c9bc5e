package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

/** Pre-norm decoder layer: x += attn(norm(x)); x += ffn(norm(x)) (branches × the residual multiplier). */
public record DecoderLayer(int index, RmsNorm inputNorm, AttentionLayer attention, RmsNorm postAttentionNorm,
                           FeedForward feedForward, float residualMultiplier) {

    /**
     * The normalised rows and the branch output, kept per calling thread for the next layer and step: a decode step
     * would otherwise allocate (and the JVM zero) two rows per layer, and fresh heap pages cost a page fault each on
     * first touch (on the GPU machine's VM, decode after a long prompt, whose prefill had grown the heap, ran 15-25 %
     * slower, and at the speed of a short prompt with a pre-touched heap; session 6).
     */
    private static final ThreadLocal<float[][]> ROWS = ThreadLocal.withInitial(() -> new float[2][0]);
    /** Rows of at most this many elements are kept (4 MB each): a long prompt's are not pinned for good. */
    private static final int KEPT_ELEMENTS = 1 << 20;

    /** Runs the layer in place on the residual rows x [n, hidden]. */
    public void forward(float[] x, int n, int startPos, KvCache cache, ForwardContext ctx) {
        int size = n * (x.length / n);
        long t = PhaseTimes.start();
        float[][] rows = size <= KEPT_ELEMENTS ? ROWS.get() : new float[2][0];
        if (rows[0].length < size) {
            rows[0] = new float[size];
            rows[1] = new float[size];
        }
        // Both are overwritten before they are read: the norm writes every row, the attention and the feed-forward
        // write every element of their output.
        float[] xn = inputNorm.normalizedRows(x, n, rows[0]);
        float[] branch = rows[1];
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
