package io.moeprune.calibrate;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Accumulates every {@link Statistic} from what the runtime observes in the MoE blocks, one demonstration at a
 * time. Call {@link #token} for each token and MoE layer of the current demonstration, then {@link #endDemo}.
 * Not thread-safe: one thread at a time feeds it (the GPU pass's workers run one sequence's traces one at a time).
 */
public final class CalibrationAccumulator {
    private final int layers;
    private final int experts;
    private final int topK;
    private final List<ExpertStats.Demo> demos = new ArrayList<>();
    private final List<Map<Statistic, double[][]>> perDemo = new ArrayList<>();
    private Map<Statistic, double[][]> current;
    private final int[] topScratch;        // PreMoe's top-k of a token, reused (one accumulator per thread)
    private final double[] probScratch;

    public CalibrationAccumulator(int moeLayers, int experts, int topK) {
        this.layers = moeLayers;
        this.experts = experts;
        this.topK = topK;
        this.current = fresh();
        this.topScratch = new int[Math.min(topK, experts)];
        this.probScratch = new double[topScratch.length];
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
        new LayerSums(current, layer).token(s, chosen, weights, norms, 0, chosen.length, routerLogits, logitsOff);
    }

    /**
     * A batch of n tokens of one MoE layer (one trace): s of each token [n]; the chosen ids, their weights and
     * norms [n·k] (token t's at t·k); the router logits [n, E]. The same sums, in the same order, as {@link #token}
     * token by token, with the layer's arrays looked up once.
     */
    public void tokens(int layer, int n, int k, double[] s, int[] chosen, float[] weights, float[] norms,
                       float[] routerLogits) {
        LayerSums sums = new LayerSums(current, layer);
        for (int t = 0; t < n; t++) sums.token(s[t], chosen, weights, norms, t * k, k, routerLogits, t * experts);
    }

    /** The current demonstration's sums of one MoE layer, each statistic's row looked up once. */
    private final class LayerSums {
        final double[] routed, sumG, sumNorm, sumGNorm, sumGNormS, sumGS, maxGNorm, top1Logit, topKProb;

        LayerSums(Map<Statistic, double[][]> c, int layer) {
            routed = c.get(Statistic.TOKENS_ROUTED)[layer];
            sumG = c.get(Statistic.SUM_G)[layer];
            sumNorm = c.get(Statistic.SUM_NORM)[layer];
            sumGNorm = c.get(Statistic.SUM_G_NORM)[layer];
            sumGNormS = c.get(Statistic.SUM_G_NORM_S)[layer];
            sumGS = c.get(Statistic.SUM_G_S)[layer];
            maxGNorm = c.get(Statistic.MAX_G_NORM)[layer];
            top1Logit = c.get(Statistic.PREMOE_TOP1_LOGIT)[layer];
            topKProb = c.get(Statistic.PREMOE_TOPK_PROB)[layer];
        }

        /** One token: its k slots from {@code slot} of chosen, weights and norms; its logits from {@code off}. */
        void token(double s, int[] chosen, float[] weights, float[] norms, int slot, int k, float[] z, int off) {
            for (int j = slot; j < slot + k; j++) {
                int e = chosen[j];
                double g = weights[j], n = norms[j];
                routed[e] += 1;
                sumG[e] += g;
                sumNorm[e] += n;
                sumGNorm[e] += g * n;
                sumGNormS[e] += g * n * s;
                sumGS[e] += g * s;
                maxGNorm[e] = Math.max(maxGNorm[e], g * n);
            }
            premoe(z, off, chosen, slot, k);
        }

        /**
         * PreMoe's markers from the raw router logits: the top-1 logit, and the softmax over the top-k logits. The
         * token's chosen experts hint at the top-k (without a selection bias or mask they are it).
         */
        private void premoe(float[] z, int off, int[] chosen, int slot, int k) {
            int[] top = topScratch;
            topIndices(z, off, experts, top, k == top.length ? chosen : null, slot);
            top1Logit[top[0]] += z[off + top[0]];
            double max = z[off + top[0]], sum = 0;
            double[] p = probScratch;
            for (int j = 0; j < top.length; j++) sum += p[j] = Math.exp(z[off + top[j]] - max);
            for (int j = 0; j < top.length; j++) topKProb[top[j]] += p[j] / sum;
        }
    }

    /** Indices of the k largest values, largest first; ties go to the lower index. */
    static int[] topIndices(float[] z, int off, int n, int k) {
        int[] top = new int[Math.min(k, n)];
        topIndices(z, off, n, top, null, 0);
        return top;
    }

    /**
     * The same into {@code top} (its length is k ≤ n), in one pass over the values by insertion: a value enters only
     * when strictly larger than the k-th kept (and moves only past strictly smaller ones), so among equal values the
     * lower index stays first, as repeatedly taking the first largest does. {@code hint} (or null) holds k ids from
     * {@code at} that are probably the k largest (the router's choice): the last of them in that order is a floor,
     * no value below it can be among the k largest when k values are at or above it, so only those few are inserted
     * (the insertions are what costs: their branches do not predict). Without k at or above it (repeated ids), the
     * pass runs again without the floor. (Non-finite logits fail the pass's finite check; their order here is
     * whatever the comparisons give.)
     */
    static void topIndices(float[] z, int off, int n, int[] top, int[] hint, int at) {
        int k = top.length, floor = hint == null ? -1 : floor(z, off, n, hint, at, k);
        float v = floor < 0 ? Float.NEGATIVE_INFINITY : z[off + floor];
        int kept = 0;
        for (int e = 0; e < n; e++) {
            float x = z[off + e];
            if (floor >= 0 && !(x > v || (x == v && e <= floor))) continue;
            if (kept == k && !(x > z[off + top[k - 1]])) continue;
            int j = kept < k ? kept++ : k - 1;
            for (; j > 0 && x > z[off + top[j - 1]]; j--) top[j] = top[j - 1];
            top[j] = e;
        }
        if (kept < k) topIndices(z, off, n, top, null, 0);
    }

    /** The last of the hint's k ids in the top-k order, or -1 where one is out of range or its value is NaN. */
    private static int floor(float[] z, int off, int n, int[] hint, int at, int k) {
        int last = -1;
        for (int j = at; j < at + k; j++) {
            int e = hint[j];
            if (e < 0 || e >= n || Float.isNaN(z[off + e])) return -1;
            if (last < 0 || before(z, off, last, e)) last = e;
        }
        return last;
    }

    /** Whether id a comes before id b in the top-k order: a larger value, or an equal one and a lower index. */
    private static boolean before(float[] z, int off, int a, int b) {
        return z[off + a] > z[off + b] || (z[off + a] == z[off + b] && a < b);
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
