package io.moeprune.runtime;

import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;

/**
 * Turns router logits into the chosen experts and their weights, following {@link MoeSpec}:
 * <ul>
 *   <li>SOFTMAX (Qwen3-MoE, Qwen2-MoE, OLMoE, DeepSeek-V2): softmax over all (kept) experts, top-k of the
 *       probabilities, renormalised to sum 1 iff normTopkProb;</li>
 *   <li>SOFTMAX_TOPK (Mixtral, ...): top-k of the logits, softmax over the chosen logits only;</li>
 *   <li>SIGMOID (DeepSeek-V3): sigmoid scores, top-k of score + selection bias, weights = unbiased scores,
 *       renormalised iff normTopkProb.</li>
 * </ul>
 * Group-limited routing restricts the choice to the best groups (experts outside them: 0 for DeepSeek-V2, never
 * chosen for DeepSeek-V3, as in transformers 5.17). Weights are finally × routedScalingFactor.
 * Ties: higher score first, lower expert id on equal scores ({@link #tieDependent} says when that rule decided
 * which experts were chosen).
 *
 * <p>A mask removes experts as if the checkpoint lacked them: their logits count as -inf, so a softmax
 * renormalises over the kept experts only. With expert groups the mask's {@link GroupStrategy} says how:
 * BALANCED keeps the group restriction, scored over the kept experts (a pruned checkpoint that keeps
 * {@code n_group}/{@code topk_group}); NOGROUP drops it (the pruned checkpoint with {@code n_group = topk_group = 1});
 * EASYEP_MUL is EASY-EP's serving patch, which no checkpoint reproduces: the full router runs (scores and group
 * scores over all experts), then the removed experts' choice scores are multiplied by 0 (see {@link #multiplyByZero}).
 * Without groups the strategy changes nothing.
 */
public final class Router {
    private final MoeSpec spec;
    private final float[] selectionBias;

    public Router(MoeSpec spec, float[] selectionBias) {
        this.spec = spec;
        this.selectionBias = selectionBias;
    }

    /** The routing this router follows (scoring, top-k, groups, renormalisation, scaling). */
    public MoeSpec spec() {
        return spec;
    }

    /** DeepSeek-V3's e_score_correction_bias [E] added to the scores for the choice only, or null. */
    public float[] selectionBias() {
        return selectionBias;
    }

    /**
     * Routes one token: reads logits[lOff .. lOff+E), writes k ids and weights at ids[oOff..], w[oOff..].
     * {@code kept} is null when every expert is allowed; {@code scratch} needs 2·E floats.
     */
    public void route(float[] logits, int lOff, boolean[] kept, int[] ids, float[] w, int oOff, float[] scratch) {
        route(logits, lOff, kept, GroupStrategy.BALANCED, ids, w, oOff, scratch);
    }

    /** As {@link #route(float[], int, boolean[], int[], float[], int, float[])}, routing around removed experts by {@code strategy}. */
    public void route(float[] logits, int lOff, boolean[] kept, GroupStrategy strategy, int[] ids, float[] w, int oOff,
                      float[] scratch) {
        int k = spec.topK();
        choose(logits, lOff, kept, strategy, ids, oOff, scratch);
        float[] scores = scratch;               // [0, E): what the weights are taken from

        float sum = 0f;
        if (spec.scoring() == MoeSpec.Scoring.SOFTMAX_TOPK) {
            float max = scores[ids[oOff]];
            for (int s = 0; s < k; s++) {
                float p = (float) Math.exp(scores[ids[oOff + s]] - max);
                w[oOff + s] = p;
                sum += p;
            }
            for (int s = 0; s < k; s++) w[oOff + s] /= sum;
        } else {
            for (int s = 0; s < k; s++) {
                w[oOff + s] = scores[ids[oOff + s]];
                sum += w[oOff + s];
            }
            if (spec.normTopkProb()) {
                // DeepSeek adds 1e-20 to the denominator; it cannot change an F32 sum of positive scores.
                for (int s = 0; s < k; s++) w[oOff + s] /= sum;
            }
        }
        float scaling = spec.routedScalingFactor();
        if (scaling != 1f && scaling != 0f) for (int s = 0; s < k; s++) w[oOff + s] *= scaling;
    }

    /**
     * Whether this token's chosen experts depend on how ties are broken: the last selected group scores the same
     * as the best group left out, or the k-th chosen expert's choice score equals the best one left out. Only then
     * can another implementation with another (equally valid) tie rule pick a different set: transformers takes
     * {@code torch.topk(sorted=False)}, whose choice among equal values is unspecified, while this class takes the
     * lower expert id. (E.g. DeepSeek-V2 fills 0.0 outside the kept groups: when those hold fewer than k
     * candidates, which of the zeros win is such a tie.)
     */
    public boolean tieDependent(float[] logits, int lOff, boolean[] kept, float[] scratch) {
        return tieDependent(logits, lOff, kept, GroupStrategy.BALANCED, scratch);
    }

    /** As {@link #tieDependent(float[], int, boolean[], float[])}, routing around removed experts by {@code strategy}. */
    public boolean tieDependent(float[] logits, int lOff, boolean[] kept, GroupStrategy strategy, float[] scratch) {
        return choose(logits, lOff, kept, strategy, new int[spec.topK()], 0, scratch);
    }

    /** Fills scratch (scores, then choice scores) and ids[oOff..oOff+k); returns whether the choice was a tie. */
    private boolean choose(float[] logits, int lOff, boolean[] maskKept, GroupStrategy strategy, int[] ids, int oOff,
                           float[] scratch) {
        int e = spec.numExperts(), k = spec.topK();
        boolean groups = spec.groups().enabled();
        boolean multiply = groups && strategy == GroupStrategy.EASYEP_MUL && maskKept != null;
        // EASY-EP's patch scores every expert first and removes afterwards; otherwise removed experts never compete.
        boolean[] kept = multiply ? null : maskKept;
        float[] scores = scratch;               // [0, E): what the weights are taken from
        int choiceOff = e;                      // [E, 2E): what top-k ranks
        switch (spec.scoring()) {
            case SOFTMAX -> {
                float max = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < e; i++) if (allowed(kept, i)) max = Math.max(max, logits[lOff + i]);
                float sum = 0f;
                for (int i = 0; i < e; i++) {
                    float p = allowed(kept, i) ? (float) Math.exp(logits[lOff + i] - max) : 0f;
                    scores[i] = p;
                    sum += p;
                }
                for (int i = 0; i < e; i++) {
                    scores[i] /= sum;
                    scratch[choiceOff + i] = allowed(kept, i) ? scores[i] : Float.NEGATIVE_INFINITY;
                }
            }
            case SOFTMAX_TOPK -> {
                for (int i = 0; i < e; i++) {
                    scores[i] = logits[lOff + i];
                    scratch[choiceOff + i] = allowed(kept, i) ? scores[i] : Float.NEGATIVE_INFINITY;
                }
            }
            case SIGMOID -> {
                for (int i = 0; i < e; i++) {
                    scores[i] = 1f / (1f + (float) Math.exp(-logits[lOff + i]));
                    float c = selectionBias == null ? scores[i] : scores[i] + selectionBias[i];
                    scratch[choiceOff + i] = allowed(kept, i) ? c : Float.NEGATIVE_INFINITY;
                }
            }
        }
        boolean tie = groups && strategy != GroupStrategy.NOGROUP && restrictToGroups(scratch, e);
        if (multiply) multiplyByZero(scratch, e, maskKept);
        topK(scratch, choiceOff, e, k, ids, oOff);
        return tie | boundaryTie(scratch, choiceOff, e, k, ids, oOff);
    }

    private static boolean allowed(boolean[] kept, int i) {
        return kept == null || kept[i];
    }

    /**
     * What the choice scores of experts outside the kept groups become, as transformers 5.17's {@code masked_fill}:
     * DeepSeek-V2's group_limited_greedy (MAX) fills 0.0 into the probabilities themselves, so such an expert
     * loses to every kept one and, if chosen at all (kept groups with fewer than k candidates), weighs 0;
     * DeepSeek-V3's noaux_tc (SUM_TOP2) fills -inf, so they are never chosen even when score + bias is negative
     * (a 0.0 fill, as earlier transformers versions had, would let them in). -MAX_VALUE instead of
     * -inf keeps them above experts removed by a mask, should the kept groups hold fewer than k candidates.
     */
    private static float outsideGroupsScore(MoeSpec.Groups g) {
        return g.score() == MoeSpec.Groups.GroupScore.SUM_TOP2 ? -Float.MAX_VALUE : 0f;
    }

    /**
     * EASY-EP's serving patch (RUCAIBox/EASYEP, sglang {@code layers/moe/topk.py}): after the full router has chosen the
     * groups, the removed experts' choice scores are multiplied by 0. So they still count in the group scores; inside
     * the kept groups a removed expert scores 0, below every kept expert with a positive score but above a kept one
     * whose score + selection bias is negative, and is then chosen (and run: mask mode has its weights) with its
     * weight taken as the patch takes it: the (zeroed) probability for softmax scoring (DeepSeek-V2: weight 0), the
     * unbiased sigmoid score for DeepSeek-V3. Outside the kept groups the router's own fill stays (as for the full
     * model: -MAX_VALUE for noaux_tc, 0 for group_limited_greedy); the patch, on an sglang that filled 0.0 there,
     * differs only where a kept group's expert has a negative biased score.
     */
    private void multiplyByZero(float[] scratch, int e, boolean[] kept) {
        float outside = outsideGroupsScore(spec.groups());
        for (int i = 0; i < e; i++) {
            if (kept[i]) continue;
            if (scratch[e + i] != outside) scratch[e + i] = 0f;
            if (spec.scoring() == MoeSpec.Scoring.SOFTMAX) scratch[i] = 0f;
        }
    }

    /**
     * Keeps the topkGroup best groups; the others' choice scores (at scratch[E..2E)) become
     * {@link #outsideGroupsScore}, and for DeepSeek-V2 their probabilities (scratch[0..E)) 0 too.
     * Returns whether the last kept group ties with the best dropped one.
     */
    private boolean restrictToGroups(float[] scratch, int e) {
        float[] c = scratch;
        int off = e;
        MoeSpec.Groups g = spec.groups();
        int per = e / g.nGroup();
        float[] groupScore = new float[g.nGroup()];
        for (int gi = 0; gi < g.nGroup(); gi++) {
            float best = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
            for (int i = gi * per; i < (gi + 1) * per; i++) {
                float v = c[off + i];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            groupScore[gi] = g.score() == MoeSpec.Groups.GroupScore.MAX ? best : best + second;
        }
        int[] keptGroups = new int[g.topkGroup()];
        topK(groupScore, 0, g.nGroup(), g.topkGroup(), keptGroups, 0);
        boolean[] keep = new boolean[g.nGroup()];
        for (int gi : keptGroups) keep[gi] = true;
        float outside = outsideGroupsScore(g);
        for (int gi = 0; gi < g.nGroup(); gi++) {
            if (keep[gi]) continue;
            for (int i = gi * per; i < (gi + 1) * per; i++) {
                if (c[off + i] == Float.NEGATIVE_INFINITY) continue;
                c[off + i] = outside;
                if (outside == 0f) scratch[i] = 0f;
            }
        }
        return boundaryTie(groupScore, 0, g.nGroup(), g.topkGroup(), keptGroups, 0);
    }

    /**
     * Whether the worst of the k chosen v[off ..] equals the best value left out (a finite one: experts at -inf
     * are never candidates).
     */
    static boolean boundaryTie(float[] v, int off, int n, int k, int[] chosen, int idOff) {
        if (k >= n) return false;
        float worstChosen = Float.POSITIVE_INFINITY;
        for (int s = 0; s < k; s++) worstChosen = Math.min(worstChosen, v[off + chosen[idOff + s]]);
        float bestLeft = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) if (!taken(chosen, idOff, k, i)) bestLeft = Math.max(bestLeft, v[off + i]);
        return bestLeft != Float.NEGATIVE_INFINITY && worstChosen == bestLeft;
    }

    /** The k best of v[off .. off+n), best first; on equal values the lower index wins. */
    static void topK(float[] v, int off, int n, int k, int[] ids, int idOff) {
        for (int s = 0; s < k; s++) {
            int best = -1;
            float bestV = 0f;
            for (int i = 0; i < n; i++) {
                float x = v[off + i];
                if (taken(ids, idOff, s, i)) continue;
                if (best < 0 || x > bestV) {
                    best = i;
                    bestV = x;
                }
            }
            ids[idOff + s] = best;
        }
    }

    private static boolean taken(int[] ids, int off, int count, int i) {
        for (int s = 0; s < count; s++) if (ids[off + s] == i) return true;
        return false;
    }
}
