package io.moeprune.select;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.model.GroupStrategy;

import java.util.Arrays;
import java.util.List;

/**
 * Which routed experts to keep in each MoE layer, in the model's original numbering, with where the choice came
 * from. kept[i] are the ascending expert ids kept in MoE layer moeLayers.get(i).
 *
 * @param fingerprint model fingerprint the mask was made for ("" when unknown, e.g. imported without a model)
 * @param family      model_type of that model
 * @param numExperts  routed experts per layer in that model
 * @param topK        experts per token of that model
 * @param moeLayers   model layer index of each MoE layer
 * @param kept        per MoE layer, the kept expert ids (ascending, distinct)
 * @param method      selection method name
 * @param budget      human description of the budget
 * @param domains     the domains whose statistics were used
 * @param strategy    how routers with expert groups go around the removed experts; null for a mask written before
 *                    the field existed, which keeps its old meaning (docs/pruning.md, "Expert groups")
 */
public record ExpertMask(String fingerprint, String family, int numExperts, int topK, List<Integer> moeLayers,
                         int[][] kept, String method, String budget, List<DomainRef> domains, GroupStrategy strategy) {

    /** A mask without a recorded strategy (its old meaning). */
    public ExpertMask(String fingerprint, String family, int numExperts, int topK, List<Integer> moeLayers,
                      int[][] kept, String method, String budget, List<DomainRef> domains) {
        this(fingerprint, family, numExperts, topK, moeLayers, kept, method, budget, domains, null);
    }

    /** The same mask with another strategy. */
    public ExpertMask withStrategy(GroupStrategy s) {
        return new ExpertMask(fingerprint, family, numExperts, topK, moeLayers, kept, method, budget, domains, s);
    }

    /** The strategy mask mode routes by: a mask without one routes as {@link GroupStrategy#BALANCED} always did. */
    public GroupStrategy routing() {
        return strategy == null ? GroupStrategy.BALANCED : strategy;
    }

    /**
     * One domain that contributed to the selection.
     *
     * @param demonstrations per demonstration of its statistics file, the content hash and token count (empty for
     *                       masks written before they were recorded, and for imported masks)
     */
    public record DomainRef(String name, double weight, int demos, long tokens, List<ExpertStats.Demo> demonstrations) {
        public DomainRef {
            demonstrations = List.copyOf(demonstrations);
        }

        /** A domain whose demonstrations are not known one by one. */
        public DomainRef(String name, double weight, int demos, long tokens) {
            this(name, weight, demos, tokens, List.of());
        }
    }

    public ExpertMask {
        if (kept.length != moeLayers.size()) {
            throw new MoepruneException("mask has " + kept.length + " layers of kept experts but " + moeLayers.size()
                    + " MoE layers");
        }
    }

    /** Kept experts of model layer {@code layer}, or null when that layer is not a MoE layer of the mask. */
    public int[] keptInLayer(int layer) {
        int i = moeLayers.indexOf(layer);
        return i < 0 ? null : kept[i];
    }

    /** True when every MoE layer keeps the same number of experts (the form unmodified engines can load). */
    public boolean uniform() {
        return Arrays.stream(kept).mapToInt(k -> k.length).distinct().count() <= 1;
    }

    public int keptTotal() {
        return Arrays.stream(kept).mapToInt(k -> k.length).sum();
    }

    /** allowed[layerPosition][expert] for routing in mask mode. */
    public boolean[][] allowed() {
        boolean[][] a = new boolean[kept.length][numExperts];
        for (int l = 0; l < kept.length; l++) for (int e : kept[l]) a[l][e] = true;
        return a;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpertMask m && fingerprint.equals(m.fingerprint) && numExperts == m.numExperts
                && moeLayers.equals(m.moeLayers) && Arrays.deepEquals(kept, m.kept) && method.equals(m.method)
                && java.util.Objects.equals(strategy, m.strategy);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(kept);
    }
}
