package io.moeprune.calibrate;

/**
 * The per-(layer, expert) sums one calibration pass records, so that every selection method can be computed
 * from the same statistics file. Notation, per token t and MoE layer: g = the weight the model really multiplies
 * expert e's output by (after renormalisation and scaling), e = the expert's unweighted output, h = the residual
 * stream entering the MoE block, r = the routed output (without shared experts),
 * s = max(0, 1 − cos(h, h + r)), z = raw router logits.
 */
public enum Statistic {
    /** Number of tokens routed to the expert. */
    TOKENS_ROUTED("tokens_routed"),
    /** Σ g. */
    SUM_G("sum_g"),
    /** Σ ‖e‖. */
    SUM_NORM("sum_norm"),
    /** Σ g‖e‖ (EASY-EP without token contribution; REAP's numerator). */
    SUM_G_NORM("sum_g_norm"),
    /** Σ g‖e‖s (EASY-EP). */
    SUM_G_NORM_S("sum_g_norm_s"),
    /** Σ g·s (EASY-EP without the output norm). */
    SUM_G_S("sum_g_s"),
    /** Σ over tokens of z_e where e is the token's top-1 expert by raw logit, else 0 (PreMoe's marker). */
    PREMOE_TOP1_LOGIT("premoe_top1_logit"),
    /** Σ over tokens of p_e, the softmax over the top-k raw logits, for the chosen experts (PreMoe's probability variant). */
    PREMOE_TOPK_PROB("premoe_topk_prob"),
    /** max over tokens of g‖e‖ (largest single activation). */
    MAX_G_NORM("max_g_norm");

    private final String key;

    Statistic(String key) {
        this.key = key;
    }

    /** The tensor name in the statistics file. */
    public String key() {
        return key;
    }

    /** Whether values combine across demonstrations by max instead of sum. */
    public boolean combinesByMax() {
        return this == MAX_G_NORM;
    }
}
