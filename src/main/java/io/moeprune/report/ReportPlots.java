package io.moeprune.report;

import io.moeprune.analyze.Svg;
import io.moeprune.select.Method;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** The report's SVG plots: quality against experts kept per method, and expert importance per domain. */
public final class ReportPlots {
    private ReportPlots() {
    }

    /**
     * In-domain loss against experts kept, one line per method; every line ends at the full model (all experts kept),
     * which is also drawn as a dashed reference line.
     */
    public static String quality(StudyResult r, String domain) {
        TreeSet<Integer> xs = new TreeSet<>(r.keeps());
        xs.add(r.numExperts());
        double[] x = xs.stream().mapToDouble(Integer::doubleValue).toArray();
        double fullLoss = r.full().get(domain).loss();
        List<String> names = new ArrayList<>();
        List<double[]> ys = new ArrayList<>();
        double lo = fullLoss, hi = fullLoss;
        for (Method m : r.methods()) {
            Map<Integer, Quality> byKeep = r.inDomain().get(domain).get(m);
            double[] y = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                int k = (int) x[i];
                Quality q = byKeep.get(k);
                y[i] = q != null ? q.loss() : k == r.numExperts() ? fullLoss : Double.NaN;
                if (!Double.isNaN(y[i])) {
                    lo = Math.min(lo, y[i]);
                    hi = Math.max(hi, y[i]);
                }
            }
            names.add(m.cliName());
            ys.add(y);
        }
        double pad = Math.max((hi - lo) * 0.08, 0.01);
        return Svg.lineChart(domain + ": held-out loss vs experts kept", "experts kept per MoE layer (of "
                        + r.numExperts() + ")", "loss (nats/token)", x, names, ys, Math.max(0, lo - pad), hi + pad,
                "full model", fullLoss);
    }

    /** Layers x experts heatmap of the domain's easyep importance, each layer scaled to its most important expert. */
    public static String importance(StudyResult r, String domain) {
        double[][] imp = r.importance().get(domain);
        double[][] scaled = new double[imp.length][];
        List<String> rows = new ArrayList<>(), cols = new ArrayList<>();
        for (int l = 0; l < imp.length; l++) {
            double max = 0;
            for (double v : imp[l]) max = Math.max(max, v);
            scaled[l] = new double[imp[l].length];
            for (int e = 0; e < imp[l].length; e++) scaled[l][e] = max > 0 ? imp[l][e] / max : 0;
            rows.add("MoE layer " + l);
        }
        for (int e = 0; e < r.numExperts(); e++) cols.add(Integer.toString(e));
        int cell = r.numExperts() <= 16 ? 44 : r.numExperts() <= 64 ? 17 : 8;
        // The kept experts of the smallest budget are marked: the ones a pruned checkpoint would hold.
        Map<Integer, int[][]> kept = r.oodKept().get(domain);
        boolean[][] marked = null;
        String markLabel = null;
        if (kept != null && !kept.isEmpty()) {
            int keep = kept.keySet().stream().min(Integer::compare).orElseThrow();
            marked = new boolean[imp.length][r.numExperts()];
            for (int l = 0; l < imp.length; l++) for (int e : kept.get(keep)[l]) marked[l][e] = true;
            markLabel = "kept at " + keep + " of " + r.numExperts();
        }
        return Svg.heatmap(domain + ": easyep importance (1 = layer's top expert)", rows, cols, scaled, cell, "expert",
                marked, markLabel);
    }
}
