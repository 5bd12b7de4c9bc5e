package io.moeprune.runtime;

/** The MLP half of a decoder layer: a dense SwiGLU or a MoE block. */
public interface FeedForward {

    /**
     * Computes the branch output [n, hidden] for the normalised rows {@code xn}. {@code h} is the residual stream
     * entering the block (before the post-attention norm), which observers see; plain MLPs ignore it.
     */
    void forward(float[] xn, float[] h, int n, int startPos, ForwardContext ctx, float[] out);

    /**
     * The block's first product for a single row (a router, or a dense MLP's gate and up), as a coming parallel call
     * for idle threads to read ahead ({@link io.moeprune.kernels.Parallel#readAheadFor}); null if none.
     */
    default io.moeprune.kernels.Parallel.NextCall firstProduct() {
        return null;
    }
}
