package io.moeprune.provenance;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How a pruned checkpoint was made (its {@code moeprune.json}, docs/formats.md): the original, unpruned model, every
 * pruning step from it to this checkpoint, and for every MoE layer the original ids of the kept experts in their new
 * order (new expert i is original expert kept[layer][i]).
 *
 * @param tool     name and version of the tool that wrote the last step
 * @param created  when the last step was made (UTC, ISO-8601)
 * @param model    this checkpoint (its fingerprint and expert count; path empty: it moves)
 * @param original the model at the start of the chain
 * @param steps    the pruning steps, oldest first; steps.getFirst().source() is the original
 * @param kept     per MoE layer (original.moeLayers() order), the original expert ids in the new numbering's order
 */
public record Provenance(String tool, String created, ModelRef model, ModelRef original, List<Step> steps, int[][] kept) {

    /** A model directory as it was seen: where, which (fingerprint) and its routing shape. */
    public record ModelRef(String path, String fingerprint, String family, int numExperts, int topK,
                           List<Integer> moeLayers) {
        public ModelRef {
            moeLayers = List.copyOf(moeLayers);
        }

        /** A model directory ("" for one whose place is not known yet) with its fingerprint and config. */
        public static ModelRef of(String path, String fingerprint, ModelSpec spec) {
            return new ModelRef(path, fingerprint, spec.family().modelType(), spec.moe().numExperts(), spec.moe().topK(),
                    spec.moeLayers());
        }
    }

    /**
     * One prune: of which model, with which mask.
     *
     * @param mask     the mask file given to prune ("" when none)
     * @param strategy routing strategy of the mask ("default" when the mask names none)
     * @param kept     per MoE layer, the kept ids in the numbering of {@code source}, ascending
     */
    public record Step(String tool, String created, ModelRef source, String mask, String strategy, String method,
                       String budget, List<ExpertMask.DomainRef> domains, int[][] kept) {
        public Step {
            domains = List.copyOf(domains);
        }
    }

    public Provenance {
        steps = List.copyOf(steps);
        if (steps.isEmpty()) throw new IllegalArgumentException("a provenance has at least one step");
    }

    /** The last pruning step (the one that wrote this checkpoint). */
    public Step last() {
        return steps.getLast();
    }

    /** Experts kept per MoE layer in this checkpoint (every layer keeps as many: prune refuses uneven masks). */
    public int keptPerLayer() {
        return kept.length == 0 ? 0 : kept[0].length;
    }

    /**
     * The record of a checkpoint made by {@code step} from its source. When the source was itself pruned
     * ({@code previous} is its record) the maps compose: the new checkpoint's expert i is the source's expert
     * step.kept[l][i], which is original expert previous.kept[l][that].
     */
    public static Provenance after(Provenance previous, Step step, ModelRef pruned) {
        if (previous == null) return new Provenance(step.tool(), step.created(), pruned, step.source(), List.of(step), step.kept());
        int[][] composed = new int[step.kept().length][];
        for (int l = 0; l < composed.length; l++) {
            composed[l] = new int[step.kept()[l].length];
            for (int i = 0; i < composed[l].length; i++) composed[l][i] = previous.kept()[l][step.kept()[l][i]];
        }
        List<Step> chain = new ArrayList<>(previous.steps());
        chain.add(step);
        return new Provenance(step.tool(), step.created(), pruned, previous.original(), chain, composed);
    }

    /**
     * The record as a mask of the original model: pruning the original with it reproduces this checkpoint's experts
     * in one step (the composed ids are ascending because every step keeps its experts in ascending order).
     */
    public ExpertMask asMask() {
        Step s = last();
        return new ExpertMask(original.fingerprint(), original.family(), original.numExperts(), original.topK(),
                original.moeLayers(), copy(kept), s.method(), s.budget(), s.domains(), strategyOf(s));
    }

    /** The strategy a step recorded; "default" (a mask that named none) keeps that meaning: null. */
    private static io.moeprune.model.GroupStrategy strategyOf(Step s) {
        return "default".equals(s.strategy()) ? null : io.moeprune.model.GroupStrategy.parse(s.strategy());
    }

    /** Refuses a record that does not describe the model it sits in (a hand-edited or stale moeprune.json). */
    void checkDescribes(Path file, String fingerprint, List<Integer> moeLayers) {
        if (!model.fingerprint().equals(fingerprint)) {
            throw MoepruneException.inFile(file, "describes a model with fingerprint " + model.fingerprint()
                    + ", not this one (" + fingerprint + "); it is stale: prune a copy without it");
        }
        if (!original.moeLayers().equals(moeLayers) || kept.length != moeLayers.size()) {
            throw MoepruneException.inFile(file, "its MoE layers " + original.moeLayers() + " are not this model's " + moeLayers);
        }
        for (int i = 0; i < kept.length; i++) {
            if (kept[i].length != model.numExperts()) {
                throw MoepruneException.inFile(file, "layer " + moeLayers.get(i) + " lists " + kept[i].length
                        + " kept experts but the model has " + model.numExperts());
            }
        }
    }

    private static int[][] copy(int[][] a) {
        int[][] c = new int[a.length][];
        for (int i = 0; i < a.length; i++) c[i] = a[i].clone();
        return c;
    }
}
