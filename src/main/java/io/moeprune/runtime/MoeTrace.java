package io.moeprune.runtime;

/**
 * What one MoE block did for a batch of n tokens. Row-major arrays; t indexes the batch, s the k routing slots.
 *
 * @param layer          decoder layer index
 * @param positions      absolute position of each token [n]
 * @param n              tokens in the batch
 * @param hidden         hidden width H
 * @param numExperts     routed experts E
 * @param topK           k
 * @param residualIn     h [n, H]: the residual stream entering the block (attention already added, before the
 *                       post-attention RMSNorm)
 * @param routerLogits   raw router logits [n, E] (before any mask)
 * @param chosen         chosen expert ids [n, k], best first
 * @param weights        g [n, k]: exactly what multiplies each expert's output (after renormalisation and scaling)
 * @param expertOutputs  e [n, k, H]: each chosen expert's unweighted output
 * @param routed         r [n, H] = Σ_s g·e
 * @param shared         shared-expert contribution [n, H] (already gated), or null when the family has none
 * @param output         block output [n, H] = h + residual multiplier·(r + shared)
 */
public record MoeTrace(int layer, int[] positions, int n, int hidden, int numExperts, int topK, float[] residualIn,
                       float[] routerLogits, int[] chosen, float[] weights, float[] expertOutputs, float[] routed,
                       float[] shared, float[] output) {
}
