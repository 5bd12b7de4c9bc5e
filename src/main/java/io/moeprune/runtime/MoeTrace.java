package io.moeprune.runtime;

/**
 * What one MoE block did for a batch of n tokens. Row-major arrays; t indexes the batch, s the k routing slots.
 *
 * <p>Two runtimes make traces. The CPU runtime fills every array but the last two. The GPU runtime
 * (io.moeprune.gpu.runtime) keeps the per-expert rows on the device: its traces carry {@code expertOutputs},
 * {@code routed}, {@code shared} and {@code output} as null and give instead what calibration needs of them,
 * computed on the device: {@code slotNorms} (‖e‖ of each slot) and {@code turns} (EASY-EP's s of each token). An
 * observer that reads the four arrays must handle their absence (the calibration observer uses the two instead).
 *
 * @param layer          decoder layer index
 * @param positions      absolute position of each token [n]
 * @param n              tokens in the batch
 * @param hidden         hidden width H
 * @param numExperts     routed experts E
 * @param topK           k
 * @param residualIn     h [n, H]: the residual stream entering the block (attention already added, before the
 *                       post-attention RMSNorm); null on the GPU runtime when no observer of the batch reads it
 *                       ({@link MoeObserver#readsResidual})
 * @param routerLogits   raw router logits [n, E] (before any mask)
 * @param chosen         chosen expert ids [n, k], best first
 * @param weights        g [n, k]: exactly what multiplies each expert's output (after renormalisation and scaling)
 * @param expertOutputs  e [n, k, H]: each chosen expert's unweighted output; null on the GPU runtime
 * @param routed         r [n, H] = Σ_s g·e; null on the GPU runtime
 * @param shared         shared-expert contribution [n, H] (already gated), or null when the family has none (and on
 *                       the GPU runtime)
 * @param output         block output [n, H] = h + residual multiplier·(r + shared); null on the GPU runtime
 * @param slotNorms      ‖e‖ of each slot [n, k] (the GPU runtime); null on the CPU runtime
 * @param turns          max(0, 1 − cos(h, h + r)) of each token [n] (the GPU runtime); null on the CPU runtime
 */
public record MoeTrace(int layer, int[] positions, int n, int hidden, int numExperts, int topK, float[] residualIn,
                       float[] routerLogits, int[] chosen, float[] weights, float[] expertOutputs, float[] routed,
                       float[] shared, float[] output, float[] slotNorms, float[] turns) {

    /** A CPU runtime trace: every array of the block, no device-side reductions. */
    public MoeTrace(int layer, int[] positions, int n, int hidden, int numExperts, int topK, float[] residualIn,
                    float[] routerLogits, int[] chosen, float[] weights, float[] expertOutputs, float[] routed,
                    float[] shared, float[] output) {
        this(layer, positions, n, hidden, numExperts, topK, residualIn, routerLogits, chosen, weights, expertOutputs,
                routed, shared, output, null, null);
    }
}
