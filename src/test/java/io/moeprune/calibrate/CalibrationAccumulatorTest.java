package io.moeprune.calibrate;

import org.junit.jupiter.api.Test;

import java.util.List;

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
}
