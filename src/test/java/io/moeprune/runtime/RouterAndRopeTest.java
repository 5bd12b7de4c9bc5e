package io.moeprune.runtime;

import io.moeprune.model.MoeSpec;
import io.moeprune.model.RopeSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RouterAndRopeTest {

    static MoeSpec moe(int experts, int k, MoeSpec.Scoring scoring, boolean norm, float scaling, MoeSpec.Groups groups) {
        return new MoeSpec(experts, k, 8, scoring, norm, scaling, groups, false, false, 0, 0, false,
                MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU);
    }

    static int[] ids = new int[4];
    static float[] w = new float[4];

    static void route(Router r, float[] logits, boolean[] kept, int experts) {
        r.route(logits, 0, kept, ids, w, 0, new float[2 * experts]);
    }

    @Test
    void tiesGoToTheLowerExpertId() {
        Router r = new Router(moe(6, 3, MoeSpec.Scoring.SOFTMAX, false, 1f, MoeSpec.Groups.NONE), null);
        route(r, new float[]{0.5f, 2f, 0.5f, 2f, 0.5f, 1f}, null, 6);
        assertArrayEquals(new int[]{1, 3, 5}, java.util.Arrays.copyOf(ids, 3));
        route(r, new float[]{1f, 1f, 1f, 1f, 1f, 1f}, null, 6);
        assertArrayEquals(new int[]{0, 1, 2}, java.util.Arrays.copyOf(ids, 3));
        assertEquals(1f / 6, w[0], 1e-7);   // no renormalisation: the full-softmax probability
    }

    @Test
    void softmaxTopkIsSoftmaxOverTheChosenLogits() {
        Router r = new Router(moe(4, 2, MoeSpec.Scoring.SOFTMAX_TOPK, true, 1f, MoeSpec.Groups.NONE), null);
        route(r, new float[]{0f, 3f, 1f, 2f}, null, 4);
        assertArrayEquals(new int[]{1, 3}, java.util.Arrays.copyOf(ids, 2));
        double e = Math.exp(1);
        assertEquals(e / (e + 1), w[0], 1e-6);
        assertEquals(1 / (e + 1), w[1], 1e-6);
        // Masking expert 1 promotes expert 2.
        route(r, new float[]{0f, 3f, 1f, 2f}, new boolean[]{true, false, true, true}, 4);
        assertArrayEquals(new int[]{3, 2}, java.util.Arrays.copyOf(ids, 2));
    }

    @Test
    void sigmoidWithGroupsAndScaling() {
        // 4 groups of 2; keep the best 2 groups by sum of their two scores; top-2 inside; renormalise, × 2.5.
        MoeSpec spec = moe(8, 2, MoeSpec.Scoring.SIGMOID, true, 2.5f,
                new MoeSpec.Groups(4, 2, MoeSpec.Groups.GroupScore.SUM_TOP2));
        Router r = new Router(spec, new float[8]);
        float[] logits = {3f, -3f, 1f, 1f, 2.5f, 2.5f, 0f, 0f};
        // group sums (sigmoid): g0 = .953+.047 = 1.0, g1 = .731·2 = 1.46, g2 = .924·2 = 1.85, g3 = 1.0 -> keep g2, g1
        route(r, logits, null, 8);
        assertArrayEquals(new int[]{4, 5}, java.util.Arrays.copyOf(ids, 2));
        assertEquals(1.25f, w[0], 1e-6);
        assertEquals(1.25f, w[1], 1e-6);
    }

    /**
     * transformers 5.17's DeepSeek-V3 router fills the scores of experts outside the kept groups with -inf, so a
     * kept group's expert is chosen even when its score + bias is negative. (A 0.0 fill let an outside expert in
     * here: the 8.8e-2 disagreement on the pruned deepseek_v3 fixture, issue 5.)
     */
    @Test
    void deepseekV3NeverChoosesExpertsOutsideTheKeptGroups() {
        MoeSpec spec = moe(8, 4, MoeSpec.Scoring.SIGMOID, true, 1f,
                new MoeSpec.Groups(4, 2, MoeSpec.Groups.GroupScore.SUM_TOP2));
        float[] bias = {0f, 0f, 0f, 0f, 1f, -0.9f, 1f, 0.5f};
        Router r = new Router(spec, bias);
        float[] logits = {0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f};   // scores 0.5: choice = 0.5 + bias
        // choice: 0.5 x4, 1.5, -0.4, 1.5, 1.0; group sums: 1.0, 1.0, 1.1, 2.5 -> keep groups 3 and 2
        route(r, logits, null, 8);
        int[] chosen = java.util.Arrays.copyOf(ids, 4);
        java.util.Arrays.sort(chosen);
        assertArrayEquals(new int[]{4, 5, 6, 7}, chosen);   // expert 5 (choice -0.4) stays in; 0..3 never compete
        assertEquals(0.25f, w[0], 1e-6);
        assertFalse(r.tieDependent(logits, 0, null, new float[16]));
        // Masking 1, 3 and 5 leaves one group with two candidates (3: sum 2.5); the other kept group is a tie of
        // -inf sums (lowest id: group 0, one candidate). The fourth slot goes to an expert outside the kept groups
        // (2 or 4: a tie, lowest id), never to a masked one.
        boolean[] kept = {true, false, true, false, true, false, true, true};
        route(r, logits, kept, 8);
        chosen = java.util.Arrays.copyOf(ids, 4);
        java.util.Arrays.sort(chosen);
        assertArrayEquals(new int[]{0, 2, 6, 7}, chosen);
        assertTrue(r.tieDependent(logits, 0, kept, new float[16]));
    }

    /** DeepSeek-V2's group_limited_greedy fills 0.0 outside the kept groups (transformers 5.17), as before. */
    @Test
    void deepseekV2FillsZeroOutsideTheKeptGroups() {
        MoeSpec spec = moe(8, 3, MoeSpec.Scoring.SOFTMAX, false, 1f,
                new MoeSpec.Groups(4, 1, MoeSpec.Groups.GroupScore.MAX));
        Router r = new Router(spec, null);
        float[] logits = {3f, 0f, 1f, 0f, 2f, 0f, 0.5f, 0f};
        // keep group 0 only (max 3); its two experts come first, the third slot goes to the lowest-id zero, whose
        // weight is that 0, as transformers' topk over the masked probabilities gives
        route(r, logits, null, 8);
        assertArrayEquals(new int[]{0, 1, 2}, java.util.Arrays.copyOf(ids, 3));
        double sum = Math.exp(3) + Math.exp(1) + Math.exp(2) + Math.exp(0.5) + 4;
        assertEquals(Math.exp(3) / sum, w[0], 1e-6);
        assertEquals(1 / sum, w[1], 1e-6);
        assertEquals(0f, w[2]);
        assertTrue(r.tieDependent(logits, 0, null, new float[16]));
    }

    @Test
    void tieDependentOnlyWhenTheKthScoreTiesWithTheNext() {
        Router r = new Router(moe(6, 2, MoeSpec.Scoring.SOFTMAX_TOPK, true, 1f, MoeSpec.Groups.NONE), null);
        float[] s = new float[12];
        assertTrue(r.tieDependent(new float[]{1f, 3f, 2f, 2f, 0f, 0f}, 0, null, s));    // 3, then 2 vs 2
        assertFalse(r.tieDependent(new float[]{1f, 2f, 3f, 0f, 0f, 0f}, 0, null, s));
        assertFalse(r.tieDependent(new float[]{1f, 3f, 3f, 2f, 0f, 0f}, 0, null, s));   // both 3s chosen
        // A tie with a masked expert (-inf) is no tie: it can never be chosen.
        assertFalse(r.tieDependent(new float[]{1f, 3f, 2f, 2f, 0f, 0f}, 0, new boolean[]{true, true, true, false, true, true}, s));
    }

    @Test
    void linearRopeAtTwicePositionEqualsDefault() {
        Rope def = new Rope(new RopeSpec("default", 10000, 1, 0, 32, 1, 0, 0, true, false, 8, 256), 8);
        Rope lin = new Rope(new RopeSpec("linear", 10000, 2, 0, 32, 1, 0, 0, true, false, 8, 256), 8);
        float[] a = {1, 2, 3, 4, 5, 6, 7, 8}, b = a.clone();
        def.rotate(a, 0, def.table(3, def.newTable()));
        lin.rotate(b, 0, lin.table(6, lin.newTable()));
        for (int i = 0; i < 8; i++) assertEquals(a[i], b[i], 1e-5);
        // Rotation keeps the norm.
        double n0 = 0, n1 = 0;
        for (int i = 0; i < 8; i++) {
            n0 += (i + 1) * (i + 1);
            n1 += a[i] * a[i];
        }
        assertEquals(n0, n1, 1e-3);
    }
}
