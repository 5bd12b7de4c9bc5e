package io.moeprune.model;

/**
 * Attention shape. {@link Kind#GQA} covers multi-head, grouped-query and multi-query attention;
 * {@link Kind#MLA} is DeepSeek's multi-head latent attention, whose extra dimensions are in {@link Mla}.
 *
 * @param kind          GQA or MLA
 * @param numHeads      query heads
 * @param numKvHeads    key/value heads (GQA); equal to numHeads for MLA
 * @param headDim       query/key head width for GQA (for MLA: qk_nope + qk_rope)
 * @param valueHeadDim  value head width (equal to headDim for GQA)
 * @param qkNorm        RMSNorm applied to queries and keys after projection
 * @param qkvBias       biases on q, k and v projections
 * @param outputBias    bias on the output projection
 * @param slidingWindow window length for sliding layers, 0 when none
 * @param sinks         per-head attention sink logits (gpt-oss)
 * @param clipQkv       clamp q, k, v to ±clipQkv (OLMoE option), NaN when off
 * @param mla           MLA dimensions, null for GQA
 */
public record AttentionSpec(
        Kind kind,
        int numHeads,
        int numKvHeads,
        int headDim,
        int valueHeadDim,
        QkNorm qkNorm,
        boolean qkvBias,
        boolean outputBias,
        int slidingWindow,
        boolean sinks,
        float clipQkv,
        Mla mla) {

    public enum Kind { GQA, MLA }

    /** NONE; PER_HEAD: RMSNorm of width head_dim on each head (Qwen3-MoE); FULL: over all heads at once (OLMoE). */
    public enum QkNorm { NONE, PER_HEAD, FULL }

    /** DeepSeek MLA widths; qLoraRank is 0 when queries are projected directly (DeepSeek-V2-Lite). */
    public record Mla(int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim) {
    }
}
