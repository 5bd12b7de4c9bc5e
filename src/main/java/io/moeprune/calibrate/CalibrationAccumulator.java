package io.moeprune.calibrate;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Accumulates every {@link Statistic} from what the runtime observes in the MoE blocks, one demonstration at a
 * time. Call {@link #token} for each token and MoE layer of the current demonstration, then {@link #endDemo}.
 * Not thread-safe: the runtime reports layers and tokens from one thread.
 */
public final class CalibrationAccumulator {
    private final int layers;
    private final int experts;
    private final int topK;
    private final List<ExpertStats.Demo> demos = new ArrayList<>();
    private final List<Map<Statistic, double[][]>> perDemo = new ArrayList<>();
    private Map<Statistic, double[][]> current;

    public CalibrationAccumulator(int moeLayers, int experts, int topK) {
        this.layers = moeLayers;
        this.experts = experts;
        this.topK = topK;
        this.current = fresh();
    }

    private Map<Statistic, double[][]> fresh() {
        Map<Statistic, double[][]> m = new EnumMap<>(Statistic.class);
        for (Statistic s : Statistic.values()) m.put(s, new double[layers][experts]);
        return m;
    }

    /** s = max(0, 1 − cos(h, h + r)): how much the routed experts turn the token's residual stream. */
    public static double tokenContribution(float[] h, float[] r) {
        return tokenContribution(h, 0, r, 0, h.length);
    }

    /** s for vectors stored at offsets of larger arrays (the runtime's [n, H] rows). */
    public static double tokenContribution(float[] h, int hOff, float[] r, int rOff, int width) {
        double hh = 0, hy = 0, yy = 0;
        for (int i = 0; i < width; i++) {
            double hv = h[hOff + i], y = hv + r[rOff + i];
            hh += hv * hv;
            hy += hv * y;
            yy += y * y;
        }
        if (hh == 0 || yy == 0) return 0;
        return Math.max(0, 1 - hy / Math.sqrt(hh * yy));
    }

    /**
     * One token in one MoE layer.
     *
     * @param layer       position of the MoE layer (0 = first MoE layer)
     * @param h           residual stream entering the MoE block
     * @param r           routed output (Σ g·e over the chosen experts, no shared experts)
     * @param chosen      the chosen expert ids
     * @param weights     g of each chosen expert (what its output is really multiplied by)
     * @param norms       ‖e‖ of each chosen expert's unweighted output
     * @param routerLogits raw router logits z of all experts (before any bias, softmax or mask)
     */
    public void token(int layer, float[] h, float[] r, int[] chosen, float[] weights, float[] norms, float[] routerLogits) {
        token(layer, tokenContribution(h, r), chosen, weights, norms, routerLogits, 0);
    }

    /**
     * The same with s already computed and the router logits of this token at {@code logitsOff} of a larger array;
     * chosen, weights and norms hold exactly this token's k entries.
     */
    public void token(int layer, double s, int[] chosen, float[] weights, float[] norms, float[] routerLogits, int logitsOff) {
        Map<Statistic, double[][]> c = current;
        for (int j = 0; j < chosen.length; j++) {
            int e = chosen[j];
            double g = weights[j], n = norms[j];
            c.get(Statistic.TOKENS_ROUTED)[layer][e] += 1;
            c.get(Statistic.SUM_G)[layer][e] += g;
            c.get(Statistic.SUM_NORM)[layer][e] += n;
            c.get(Statistic.SUM_G_NORM)[layer][e] += g * n;
            c.get(Statistic.SUM_G_NORM_S)[layer][e] += g * n * s;
            c.get(Statistic.SUM_G_S)[layer][e] += g * s;
            double[] max = c.get(Statistic.MAX_G_NORM)[layer];
            max[e] = Math.max(max[e], g * n);
        }
        premoe(layer, routerLogits, logitsOff);
    }

    /** PreMoe's markers from the raw router logits: the top-1 logit, and the softmax over the top-k logits. */
    private void premoe(int layer, float[] z, int off) {
        int[] top = topIndices(z, off, experts, topK);
        current.get(Statistic.PREMOE_TOP1_LOGIT)[layer][top[0]] += z[off + top[0]];
        double max = z[off + top[0]], sum = 0;
        double[] p = new double[top.length];
        for (int j = 0; j < top.length; j++) sum += p[j] = Math.exp(z[off + top[j]] - max);
        for (int j = 0; j < top.length; j++) current.get(Statistic.PREMOE_TOPK_PROB)[layer][top[j]] += p[j] / sum;
    }

    /** Indices of the k largest values, largest first; ties go to the lower index. */
    static int[] topIndices(float[] z, int off, int n, int k) {
        int[] top = new int[Math.min(k, n)];
        boolean[] taken = new boolean[n];
        for (int j = 0; j < top.length; j++) {
            int best = -1;
            for (int e = 0; e < n; e++) if (!taken[e] && (best < 0 || z[off + e] > z[off + best])) best = e;
            taken[best] = true;
            top[j] = best;
        }
        return top;
    }

    /** Closes the current demonstration. */
    public void endDemo(String sha256, int tokens) {
        demos.add(new ExpertStats.Demo(sha256, tokens));
        perDemo.add(current);
        current = fresh();
    }

    /** Takes over the closed demonstrations of {@code other}, after this one's (a layer-major pass keeps one
     * accumulator per demonstration, whose tokens arrive layer by layer, interleaved with the others'). */
    public void append(CalibrationAccumulator other) {
        demos.addAll(other.demos);
        perDemo.addAll(other.perDemo);
    }

    public int demos() {
        return demos.size();
    }

    public ExpertStats result(String fingerprint, String domain, List<Integer> moeLayers) {
        Map<Statistic, double[][][]> values = new EnumMap<>(Statistic.class);
        for (Statistic s : Statistic.values()) {
            double[][][] v = new double[perDemo.size()][][];
            for (int d = 0; d < v.length; d++) v[d] = perDemo.get(d).get(s);
            values.put(s, v);
        }
        return new ExpertStats(fingerprint, domain, List.copyOf(moeLayers), experts, topK, List.copyOf(demos), values);
    }
}
