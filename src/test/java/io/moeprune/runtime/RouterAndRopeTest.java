package io.moeprune.runtime;

import io.moeprune.model.MoeSpec;
import io.moeprune.model.RopeSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
