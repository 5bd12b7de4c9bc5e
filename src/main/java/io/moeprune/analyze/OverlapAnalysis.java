package io.moeprune.analyze;

import io.moeprune.calibrate.ExpertStats;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The papers' few-shot expert-localisation analyses: how much the top-K expert sets of two domains overlap, and
 * how stable one domain's top-K set is as the number of demonstrations grows. Overlap = |A ∩ B| / K.
 */
public final class OverlapAnalysis {
    private OverlapAnalysis() {
    }

    /** Per-layer overlap of two kept sets of equal size. */
    public static double overlap(int[] a, int[] b) {
        int common = 0;
        for (int x : a) for (int y : b) if (x == y) common++;
        return (double) common / Math.max(a.length, 1);
    }

    static int[][] topSets(ExpertStats stats, Method method, int keep, long seed) {
        return ExpertSelector.select(method.scores(stats, seed), Budget.perLayer(keep), Math.min(keep, stats.topK()));
    }

    /** [domain a][domain b][moe layer] overlap of the top-K sets. */
    public static double[][][] betweenDomains(List<ExpertStats> domains, Method method, int keep, long seed) {
        List<int[][]> sets = new ArrayList<>();
        for (ExpertStats s : domains) sets.add(topSets(s, method, keep, seed));
        int d = domains.size(), layers = domains.get(0).numMoeLayers();
        double[][][] out = new double[d][d][layers];
        for (int a = 0; a < d; a++) {
            for (int b = 0; b < d; b++) {
                for (int l = 0; l < layers; l++) out[a][b][l] = overlap(sets.get(a)[l], sets.get(b)[l]);
            }
        }
        return out;
    }

    /** Demonstration counts to analyse: 1, 2, 4, ... up to (and including) the number available. */
    public static int[] demoCounts(int available) {
        List<Integer> c = new ArrayList<>();
        for (int n = 1; n < available; n *= 2) c.add(n);
        c.add(available);
        return c.stream().mapToInt(Integer::intValue).distinct().toArray();
    }

    /**
     * [count index][moe layer]: overlap between the top-K set from the first n demonstrations and the set from all
     * demonstrations.
     */
    public static double[][] acrossDemoCounts(ExpertStats stats, Method method, int keep, int[] counts, long seed) {
        int[][] reference = topSets(stats, method, keep, seed);
        double[][] out = new double[counts.length][stats.numMoeLayers()];
        for (int i = 0; i < counts.length; i++) {
            int[][] sets = topSets(stats.firstDemos(counts[i]), method, keep, seed);
            for (int l = 0; l < reference.length; l++) out[i][l] = overlap(sets[l], reference[l]);
        }
        return out;
    }

    public static double mean(double[] v) {
        return Arrays.stream(v).average().orElse(Double.NaN);
    }
}
