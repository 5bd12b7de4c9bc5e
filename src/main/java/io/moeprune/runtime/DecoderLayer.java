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
     * slower, and at the speed of a short prompt with a pre-touched heap; 2026-11-24).
     */
    private static final ThreadLocal<float[][]> ROWS = ThreadLocal.withInitial(() -> new float[2][0]);
    /** Rows of at most this many elements are kept (4 MB each): a long prompt's are not pinned for good. */
    private static final int KEPT_ELEMENTS = 1 << 20;

    /** Runs the layer in place on the residual rows x [n, hidden]. */
    public void forward(float[] x, int n, int startPos, KvCache cache, ForwardContext ctx) {
        float[][] rows = rows(x, n);
        attend(x, n, startPos, cache, rows);
        feedForward(x, n, startPos, ctx, rows);
    }

    /**
     * The second half of {@link #forward} only: x += m·ffn(norm(x)) over n rows, which need not be consecutive
     * tokens of one sequence (a batched decode step runs each sequence's attention alone, then this once over all
     * their rows; {@code startPos} only labels an observer's positions).
     */
    public void feedForward(float[] x, int n, int startPos, ForwardContext ctx) {
        feedForward(x, n, startPos, ctx, rows(x, n));
    }

    private void feedForward(float[] x, int n, int startPos, ForwardContext ctx, float[][] rows) {
        long t = PhaseTimes.start();
        // x now is the residual entering the MLP block: observers see it as h (valid during their call only).
        float[] xn = postAttentionNorm.normalizedRows(x, n, rows[0]);
        PhaseTimes.end(PhaseTimes.Phase.NORM, t);
        float[] branch = rows[1];
        feedForward.forward(xn, x, n, startPos, ctx, branch);
        t = PhaseTimes.start();
        addScaled(x, branch, n);
        PhaseTimes.end(PhaseTimes.Phase.RESIDUAL, t);
    }

    /**
     * The first half of {@link #forward} only: x += m·attention(norm(x)), leaving x the residual that enters the
     * feed-forward block, whose weights are not read (a routing signature needs no expert of the layer it reads).
     */
    public void attend(float[] x, int n, int startPos, KvCache cache) {
        attend(x, n, startPos, cache, rows(x, n));
    }

    /**
     * The first half of {@link #forward} for a batched decode step: row i of x [n, hidden] is the next token of
     * sequence i, at {@code positions[i]} of its own cache {@code caches[i]} ({@link AttentionLayer#forwardRows}).
     */
    public void attendRows(float[] x, int n, int[] positions, KvCache[] caches) {
        float[][] rows = rows(x, n);
        long t = PhaseTimes.start();
        float[] xn = inputNorm.normalizedRows(x, n, rows[0]);
        PhaseTimes.end(PhaseTimes.Phase.NORM, t);
        attention.forwardRows(xn, n, x.length / n, positions, caches, index, rows[1]);
        t = PhaseTimes.start();
        addScaled(x, rows[1], n);
        PhaseTimes.end(PhaseTimes.Phase.RESIDUAL, t);
    }

    private void attend(float[] x, int n, int startPos, KvCache cache, float[][] rows) {
        long t = PhaseTimes.start();
        // Both rows are overwritten before they are read: the norm writes every row, the attention every element.
        float[] xn = inputNorm.normalizedRows(x, n, rows[0]);
        float[] branch = rows[1];
        PhaseTimes.end(PhaseTimes.Phase.NORM, t);
        attention.forward(xn, n, startPos, cache, index, branch);
        t = PhaseTimes.start();
        addScaled(x, branch, n);
        PhaseTimes.end(PhaseTimes.Phase.RESIDUAL, t);
    }

    /** The calling thread's two scratch rows of at least n rows of x's width. */
    private static float[][] rows(float[] x, int n) {
        int size = n * (x.length / n);
        float[][] rows = size <= KEPT_ELEMENTS ? ROWS.get() : new float[2][0];
        if (rows[0].length < size) {
            rows[0] = new float[size];
            rows[1] = new float[size];
        }
        return rows;
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
