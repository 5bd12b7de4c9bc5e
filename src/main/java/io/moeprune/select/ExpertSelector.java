package io.moeprune.select;

import io.moeprune.MoepruneException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Turns scores [layer][expert] and a {@link Budget} into the experts kept per layer (ascending ids).
 * Ties are broken deterministically: higher score first, then lower expert id.
 */
public final class ExpertSelector {
    private ExpertSelector() {
    }

    /** Expert ids of one layer ordered by importance (score descending, id ascending on ties). */
    public static Integer[] ranking(double[] scores) {
        Integer[] ids = new Integer[scores.length];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        Arrays.sort(ids, Comparator.<Integer>comparingDouble(i -> -scores[i]).thenComparingInt(i -> i));
        return ids;
    }

    /** Selects experts to keep; {@code topK} is the model's experts per token (the smallest legal count). */
    public static int[][] select(double[][] scores, Budget budget, int topK) {
        int layers = scores.length;
        int experts = scores[0].length;
        if (budget.keep() > experts) {
            throw new MoepruneException("cannot keep " + budget.keep() + " experts: layers have only " + experts);
        }
        if (budget.keep() < topK) {
            throw new MoepruneException("cannot keep " + budget.keep() + " experts: the model routes each token to "
                    + topK + ", so at least " + topK + " must stay in every layer");
        }
        if (budget.perGroup()) {
            if (experts % budget.groups() != 0 || budget.keep() % budget.groups() != 0) {
                throw new MoepruneException("cannot keep an equal number per group: " + budget.keep() + " experts over "
                        + budget.groups() + " groups of " + (experts / budget.groups()));
            }
        }
        int[] counts = budget.kind() == Budget.Kind.PER_LAYER ? uniform(layers, budget.keep())
                : globalCounts(scores, budget.keep() * layers, Math.max(budget.floor(), topK), budget);
        int[][] kept = new int[layers][];
        for (int l = 0; l < layers; l++) {
            kept[l] = budget.perGroup() ? topPerGroup(scores[l], counts[l], budget.groups()) : top(scores[l], counts[l]);
        }
        return kept;
    }

    private static int[] uniform(int layers, int keep) {
        int[] c = new int[layers];
        Arrays.fill(c, keep);
        return c;
    }

    static int[] top(double[] scores, int k) {
        Integer[] order = ranking(scores);
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = order[i];
        Arrays.sort(out);
        return out;
    }

    private static int[] topPerGroup(double[] scores, int k, int groups) {
        int size = scores.length / groups, per = k / groups;
        List<Integer> out = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            double[] sub = Arrays.copyOfRange(scores, g * size, (g + 1) * size);
            for (int id : top(sub, per)) out.add(g * size + id);
        }
        return out.stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    /**
     * Global budget: every layer first gets its floor; the rest goes to the (layer, expert) pairs with the highest
     * share of their layer's score mass, so layers whose importance is spread over many experts keep more.
     * With per-group selection, counts move in steps of one expert per group.
     */
    static int[] globalCounts(double[][] scores, int total, int floor, Budget budget) {
        int layers = scores.length, experts = scores[0].length;
        int step = budget.perGroup() ? budget.groups() : 1;
        floor = (floor + step - 1) / step * step;
        if ((long) floor * layers > total) {
            throw new MoepruneException("global budget of " + total + " experts is below the floor of " + floor
                    + " per layer over " + layers + " layers");
        }
        int[] counts = uniform(layers, floor);
        double[][] share = MixedDomain.normalisePerLayer(scores);
        // Candidates beyond the floor: the layer's next experts in ranking order, step experts at a time.
        record Candidate(int layer, int rank, double value) {
        }
        List<Candidate> cands = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            Integer[] order = ranking(share[l]);
            for (int r = floor; r + step <= experts; r += step) {
                double v = 0;
                for (int j = 0; j < step; j++) v += share[l][order[r + j]];
                cands.add(new Candidate(l, r, v / step));
            }
        }
        // Within a layer candidates have non-increasing value, so taking the best globally keeps each layer a prefix.
        cands.sort(Comparator.comparingDouble((Candidate c) -> -c.value()).thenComparingInt(Candidate::layer)
                .thenComparingInt(Candidate::rank));
        int left = total - floor * layers;
        for (Candidate c : cands) {
            if (left < step) break;
            if (counts[c.layer()] == c.rank()) {
                counts[c.layer()] += step;
                left -= step;
            }
        }
        return counts;
    }
}
