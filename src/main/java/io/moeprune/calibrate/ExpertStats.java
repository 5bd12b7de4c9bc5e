package io.moeprune.calibrate;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Calibration statistics of one domain: for every demonstration, MoE layer and expert, each {@link Statistic}.
 * values.get(stat)[demo][layer][expert]; layers are indexed by position in {@link #moeLayers()} (the model's
 * layer numbers are kept there).
 *
 * @param fingerprint  {@code ModelFingerprint} of the model the statistics were taken on
 * @param domain       the domain name (from --domain or the demonstration file name)
 * @param moeLayers    model layer index of each MoE layer, ascending
 * @param numExperts   routed experts per layer
 * @param topK         experts per token
 * @param demos        per demonstration: a content hash and its token count
 * @param values       statistic -> [demo][moe layer][expert]
 */
public record ExpertStats(String fingerprint, String domain, List<Integer> moeLayers, int numExperts, int topK,
                          List<Demo> demos, Map<Statistic, double[][][]> values) {

    /** One demonstration: SHA-256 of its rendered text (hex) and the tokens it contributed. */
    public record Demo(String sha256, int tokens) {
    }

    public int numDemos() {
        return demos.size();
    }

    public int numMoeLayers() {
        return moeLayers.size();
    }

    public long totalTokens() {
        return demos.stream().mapToLong(Demo::tokens).sum();
    }

    /** [layer][expert] of a statistic over the first {@code n} demonstrations (sum, or max for maxima). */
    public double[][] aggregate(Statistic stat, int n) {
        double[][][] v = values.get(stat);
        if (v == null) throw new IllegalArgumentException("statistics have no " + stat.key());
        double[][] out = new double[numMoeLayers()][numExperts];
        for (int d = 0; d < Math.min(n, v.length); d++) {
            for (int l = 0; l < out.length; l++) {
                for (int e = 0; e < numExperts; e++) {
                    out[l][e] = stat.combinesByMax() ? Math.max(out[l][e], v[d][l][e]) : out[l][e] + v[d][l][e];
                }
            }
        }
        return out;
    }

    /** [layer][expert] of a statistic over all demonstrations. */
    public double[][] aggregate(Statistic stat) {
        return aggregate(stat, numDemos());
    }

    /** The same statistics restricted to the first {@code n} demonstrations (few-shot analyses). */
    public ExpertStats firstDemos(int n) {
        int k = Math.min(n, numDemos());
        Map<Statistic, double[][][]> cut = new EnumMap<>(Statistic.class);
        values.forEach((s, v) -> cut.put(s, java.util.Arrays.copyOf(v, k)));
        return new ExpertStats(fingerprint, domain, moeLayers, numExperts, topK, demos.subList(0, k), cut);
    }
}
