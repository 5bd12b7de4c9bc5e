package io.moeprune.calibrate;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CalibrationAccumulatorTest {

    @Test
    void tokenContributionIsOneMinusCosine() {
        // h = (1, 0), r = (0, 1): h + r = (1, 1), cos = 1/sqrt(2)
        assertEquals(1 - 1 / Math.sqrt(2), CalibrationAccumulator.tokenContribution(new float[]{1, 0}, new float[]{0, 1}), 1e-9);
        // r parallel to h: no turn at all
        assertEquals(0, CalibrationAccumulator.tokenContribution(new float[]{1, 2}, new float[]{2, 4}), 1e-9);
        // r = -2h flips the direction: cos = -1, s = 2
        assertEquals(2, CalibrationAccumulator.tokenContribution(new float[]{1, 2}, new float[]{-2, -4}), 1e-9);
    }

    @Test
    void sumsMatchHandComputedValues() {
        CalibrationAccumulator acc = new CalibrationAccumulator(1, 4, 2);
        float[] h = {1, 0}, r = {0, 1};
        double s = 1 - 1 / Math.sqrt(2);
        // token 1: experts 2 (g .75, ||e|| 2) and 0 (g .25, ||e|| 4); logits favour 2 then 0
        acc.token(0, h, r, new int[]{2, 0}, new float[]{0.75f, 0.25f}, new float[]{2, 4}, new float[]{1.0f, -3f, 2.0f, 0.5f});
        // token 2: expert 2 again (g .5, ||e|| 1) and 3 (g .5, ||e|| 3), with r = 0 (s = 0)
        acc.token(0, h, new float[]{0, 0}, new int[]{2, 3}, new float[]{0.5f, 0.5f}, new float[]{1, 3},
                new float[]{0f, 0f, 3f, 1f});
        acc.endDemo("abc", 2);
        ExpertStats st = acc.result("fp", "d", List.of(5));
        assertArrayEquals(new double[]{1, 0, 2, 1}, st.aggregate(Statistic.TOKENS_ROUTED)[0]);
        assertArrayEquals(new double[]{0.25, 0, 1.25, 0.5}, st.aggregate(Statistic.SUM_G)[0], 1e-7);
        assertArrayEquals(new double[]{4, 0, 3, 3}, st.aggregate(Statistic.SUM_NORM)[0], 1e-7);
        assertArrayEquals(new double[]{1.0, 0, 2.0, 1.5}, st.aggregate(Statistic.SUM_G_NORM)[0], 1e-7);
        assertArrayEquals(new double[]{1.0 * s, 0, 1.5 * s, 0}, st.aggregate(Statistic.SUM_G_NORM_S)[0], 1e-7);
        assertArrayEquals(new double[]{0.25 * s, 0, 0.75 * s, 0}, st.aggregate(Statistic.SUM_G_S)[0], 1e-7);
        assertArrayEquals(new double[]{1.0, 0, 1.5, 1.5}, st.aggregate(Statistic.MAX_G_NORM)[0], 1e-7);
        // PreMoe: top-1 raw logits 2.0 (expert 2) and 3.0 (expert 2)
        assertArrayEquals(new double[]{0, 0, 5.0, 0}, st.aggregate(Statistic.PREMOE_TOP1_LOGIT)[0], 1e-7);
        double p1 = 1 / (1 + Math.exp(-1)), p2 = 1 / (1 + Math.exp(-2));  // softmax of the top-2 logits
        assertArrayEquals(new double[]{1 - p1, 0, p1 + p2, 1 - p2}, st.aggregate(Statistic.PREMOE_TOPK_PROB)[0], 1e-7);
        assertEquals(2, st.totalTokens());
        assertEquals(List.of(5), st.moeLayers());
    }

    /** The one-pass top-k, with and without a hint, against taking the first largest k times (the definition), on
     * logits full of ties. */
    @Test
    void topIndicesIsRepeatedFirstLargest() {
        Random r = new Random(3);
        for (int round = 0; round < 2000; round++) {
            int n = 1 + r.nextInt(70), k = 1 + r.nextInt(Math.min(n, 9)), off = r.nextInt(5);
            float[] z = new float[off + n];
            // few distinct values: many ties; -0.0 against 0.0 too
            for (int i = 0; i < z.length; i++) z[i] = r.nextInt(6) == 0 ? -0f : (r.nextInt(7) - 3) * 0.5f;
            int[] expected = firstLargest(z, off, n, k);
            assertArrayEquals(expected, CalibrationAccumulator.topIndices(z, off, n, k), Arrays.toString(z) + " k=" + k);
            // a hint: the right set shuffled, a near miss (one id replaced, maybe by a repeated one), or out of range
            int[] hint = new int[k + 1], top = new int[k];
            for (int j = 0; j < k; j++) hint[1 + j] = expected[(j + round) % k];
            switch (round % 4) {
                case 1 -> hint[1 + r.nextInt(k)] = r.nextInt(n);
                case 2 -> hint[1 + r.nextInt(k)] = hint[1];
                case 3 -> hint[1 + r.nextInt(k)] = n + r.nextInt(3);
                default -> { }
            }
            CalibrationAccumulator.topIndices(z, off, n, top, hint, 1);
            assertArrayEquals(expected, top, "hint " + Arrays.toString(hint) + " of " + Arrays.toString(z));
        }
    }

    private static int[] firstLargest(float[] z, int off, int n, int k) {
        int[] top = new int[k];
        boolean[] taken = new boolean[n];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) if (!taken[e] && (best < 0 || z[off + e] > z[off + best])) best = e;
            taken[best] = true;
            top[j] = best;
        }
        return top;
    }

    /** A trace's batch gives the very doubles of its tokens one by one (the order of every sum kept). */
    @Test
    void aBatchEqualsItsTokensBitForBit() {
        int experts = 16, k = 4, n = 300;
        Random r = new Random(5);
        double[] s = new double[n];
        int[] chosen = new int[n * k];
        float[] g = new float[n * k], norms = new float[n * k], logits = new float[n * experts];
        for (int t = 0; t < n; t++) {
            s[t] = r.nextDouble();
            for (int j = 0; j < k; j++) {
                chosen[t * k + j] = r.nextInt(experts);
                g[t * k + j] = r.nextFloat();
                norms[t * k + j] = 10 * r.nextFloat();
            }
            for (int e = 0; e < experts; e++) logits[t * experts + e] = (float) r.nextGaussian();
        }
        CalibrationAccumulator batch = new CalibrationAccumulator(2, experts, k), single = new CalibrationAccumulator(2, experts, k);
        batch.tokens(1, n, k, s, chosen, g, norms, logits);
        for (int t = 0; t < n; t++) {
            single.token(1, s[t], Arrays.copyOfRange(chosen, t * k, t * k + k), Arrays.copyOfRange(g, t * k, t * k + k),
                    Arrays.copyOfRange(norms, t * k, t * k + k), logits, t * experts);
        }
        batch.endDemo("a", n);
        single.endDemo("a", n);
        ExpertStats a = batch.result("f", "d", List.of(0, 1)), b = single.result("f", "d", List.of(0, 1));
        for (Statistic stat : Statistic.values()) {
            for (int l = 0; l < 2; l++) assertArrayEquals(b.aggregate(stat)[l], a.aggregate(stat)[l], stat.key());
        }
        assertTrue(a.aggregate(Statistic.PREMOE_TOPK_PROB)[1][3] > 0);
    }
}
