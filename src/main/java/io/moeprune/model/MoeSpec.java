package io.moeprune.model;

/**
 * How the routed experts of every MoE layer are chosen and combined.
 *
 * <p>Routing, per token: logits = router(x) (+ router bias); scores = softmax(logits) or sigmoid(logits);
 * selection picks top-k of scores (+ selection bias when present), restricted to the best {@code topkGroup} of
 * {@code nGroup} expert groups when groups are used; the weights g are the chosen (unbiased) scores, renormalised
 * to sum 1 when {@code normTopkProb}, times {@code routedScalingFactor}. For {@link Scoring#SOFTMAX_TOPK}
 * (Mixtral, gpt-oss, GraniteMoE) the softmax is taken over the chosen logits only.
 *
 * @param numExperts           routed experts per MoE layer
 * @param topK                 experts per token
 * @param expertIntermediateSize intermediate width of one routed expert
 * @param scoring              softmax over all experts, softmax over the chosen, or sigmoid
 * @param normTopkProb         renormalise the chosen weights to sum 1
 * @param routedScalingFactor  multiplier of the routed output (1 when absent)
 * @param groups               expert-group restriction, {@link Groups#NONE} when not used
 * @param selectionBias        router has {@code e_score_correction_bias} used only for choosing
 * @param routerBias           router linear layer has a bias (gpt-oss)
 * @param sharedExperts        number of always-on shared experts (0 when none)
 * @param sharedIntermediateSize total intermediate width of the shared expert MLP
 * @param sharedExpertGate     shared expert output × sigmoid(gate(x)) (Qwen2-MoE)
 * @param layout               how expert weights are stored
 * @param activation           expert activation
 */
public record MoeSpec(
        int numExperts,
        int topK,
        int expertIntermediateSize,
        Scoring scoring,
        boolean normTopkProb,
        float routedScalingFactor,
        Groups groups,
        boolean selectionBias,
        boolean routerBias,
        int sharedExperts,
        int sharedIntermediateSize,
        boolean sharedExpertGate,
        ExpertLayout layout,
        Activation activation) {

    public enum Scoring { SOFTMAX, SOFTMAX_TOPK, SIGMOID }

    /**
     * PER_EXPERT: separate gate/up/down matrices per expert ([I,H], [I,H], [H,I]);
     * FUSED_GATE_UP_INTERLEAVED: gpt-oss 3-D tensors gate_up_proj [E,H,2I] (gate = even columns, up = odd) with
     * biases, down_proj [E,I,H];
     * FUSED_INPUT_OUTPUT: GraniteMoE input_linear [E,2I,H] (gate = first half, up = second) and output_linear [E,H,I].
     */
    public enum ExpertLayout { PER_EXPERT, FUSED_GATE_UP_INTERLEAVED, FUSED_INPUT_OUTPUT }

    /** SWIGLU: down(silu(gate)·up). CLAMPED_SWIGLU: gpt-oss, gate clamped ≤ limit, up to ±limit, gate·σ(αgate)·(up+1). */
    public record Activation(Kind kind, float alpha, float limit) {
        public enum Kind { SWIGLU, CLAMPED_SWIGLU }

        public static final Activation SWIGLU = new Activation(Kind.SWIGLU, 1f, Float.POSITIVE_INFINITY);
    }

    /**
     * Group-limited routing: experts are split into nGroup equal groups, each group is scored, the best
     * topkGroup groups are kept and top-k is taken among their experts. MAX: group score = best expert
     * (DeepSeek-V2 group_limited_greedy); SUM_TOP2: sum of the two best biased scores (DeepSeek-V3 noaux_tc).
     */
    public record Groups(int nGroup, int topkGroup, GroupScore score) {
        public enum GroupScore { MAX, SUM_TOP2 }

        public static final Groups NONE = new Groups(1, 1, GroupScore.MAX);

        public boolean enabled() {
            return nGroup > 1;
        }

        /**
         * Why groups that keep {@code perGroup} experts each cannot route {@code topK} experts per token (the top-2
         * sum needs 2 per group; the topkGroup chosen groups must hold topK candidates), or null when they can.
         */
        public String balancedProblem(int perGroup, int topK) {
            if (score == GroupScore.SUM_TOP2 && perGroup < 2) {
                return "each of the " + nGroup + " expert groups keeps " + perGroup
                        + " expert(s) but the group score (sum of the top 2) needs at least 2 per group";
            }
            if ((long) topkGroup * perGroup < topK) {
                return "topk_group " + topkGroup + " x " + perGroup + " kept experts per group = " + topkGroup * perGroup
                        + " candidates, fewer than the " + topK + " experts each token is routed to; keep at least "
                        + (topK + topkGroup - 1) / topkGroup + " per group";
            }
            return null;
        }
    }
}
