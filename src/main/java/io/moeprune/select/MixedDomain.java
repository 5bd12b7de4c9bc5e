package io.moeprune.select;

import java.util.List;

/**
 * Mixed-domain selection as EASY-EP defines it: each domain's per-layer scores are normalised to sum 1, then
 * added (optionally weighted), so a domain with more or longer demonstrations does not dominate.
 */
public final class MixedDomain {
    private MixedDomain() {
    }

    /**
     * Each layer's scores divided by their sum. Scores that can be negative (PreMoe's raw-logit markers) are first
     * shifted so the layer's minimum is 0; an all-zero layer becomes uniform.
     */
    public static double[][] normalisePerLayer(double[][] scores) {
        double[][] out = new double[scores.length][];
        for (int l = 0; l < scores.length; l++) {
            double[] row = scores[l];
            double min = Double.POSITIVE_INFINITY;
            for (double v : row) min = Math.min(min, v);
            double shift = min < 0 ? -min : 0, sum = 0;
            for (double v : row) sum += v + shift;
            out[l] = new double[row.length];
            for (int e = 0; e < row.length; e++) out[l][e] = sum > 0 ? (row[e] + shift) / sum : 1.0 / row.length;
        }
        return out;
    }

    /** Σ_d weight_d · normalise(scores_d); weights null means all 1. */
    public static double[][] combine(List<double[][]> perDomain, double[] weights) {
        double[][] first = perDomain.get(0);
        double[][] out = new double[first.length][first[0].length];
        for (int d = 0; d < perDomain.size(); d++) {
            double w = weights == null ? 1.0 : weights[d];
            double[][] n = normalisePerLayer(perDomain.get(d));
            for (int l = 0; l < out.length; l++) {
                for (int e = 0; e < out[l].length; e++) out[l][e] += w * n[l][e];
            }
        }
        return out;
    }
}
