package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * How group-limited routing (DeepSeek-V2 group_limited_greedy, DeepSeek-V3 noaux_tc: {@code n_group} /
 * {@code topk_group}) is carried into the pruned config so that the pruned model routes exactly as the full model
 * in mask mode, by the mask's {@link GroupStrategy} (docs/pruning.md, "Expert groups"):
 *
 * <ul>
 *   <li>{@code nogroup}: mask mode routes over the kept experts without groups, so {@code n_group = topk_group = 1}.
 *       DeepSeek-V3's single group still takes a top-2 sum, so at least 2 experts must stay.</li>
 *   <li>{@code balanced}: every group keeps the same number G = K / n_group: renumbering keeps each group contiguous
 *       (group g becomes experts g·G .. g·G+G-1), so the pruned model's groups are the original groups restricted
 *       to the kept experts, and their scores (max, or sum of the top-2) are the same numbers. {@code n_group} and
 *       {@code topk_group} stay. Needs G &ge; 2 for the top-2 sum and topk_group·G &ge; top-k.</li>
 *   <li>{@code easyep-mul}: refused; no checkpoint routes like EASY-EP's serving patch.</li>
 *   <li>No strategy (a mask from before strategies): mask mode keeps the groups, so the balanced rule applies when
 *       the counts are equal; otherwise, when the kept experts lie in at most {@code topk_group} groups (each with
 *       enough kept experts for a finite group score), mask mode always selects all those groups, so
 *       {@code n_group = topk_group = 1} is exactly equivalent; anything else is refused.</li>
 * </ul>
 */
record GroupRewrite(int nGroup, int topkGroup, boolean changed) {

    /** {@code null} when the model does not use expert groups (then every strategy prunes the same). */
    static GroupRewrite plan(ModelSpec spec, ExpertMask mask, Path maskFile) {
        Groups g = spec.moe().groups();
        if (!g.enabled()) return null;
        if (mask.strategy() == null) return unrecorded(spec, mask, maskFile);
        return switch (mask.strategy()) {
            case NOGROUP -> flattened(g, mask, maskFile);
            case BALANCED -> {
                String uneven = firstUnevenLayer(spec, mask);
                if (uneven != null) {
                    throw MoepruneException.inFile(maskFile, uneven + "; strategy balanced needs the same number in "
                            + "every group (`select --strategy balanced` writes such masks)");
                }
                yield keptGroups(spec, mask, maskFile);
            }
            case EASYEP_MUL -> throw MoepruneException.inFile(maskFile, "strategy easyep-mul (EASY-EP's serving patch: "
                    + "full router, removed experts' scores multiplied by 0) runs only in mask mode (perplexity/eval "
                    + "--mask); no pruned checkpoint routes like it, so select with --strategy nogroup or balanced to prune");
        };
    }

    /** nogroup: one group holding every kept expert. */
    private static GroupRewrite flattened(Groups g, ExpertMask mask, Path maskFile) {
        int kept = mask.kept()[0].length;
        if (g.score() == Groups.GroupScore.SUM_TOP2 && kept < 2) {
            throw MoepruneException.inFile(maskFile, "keeps " + kept + " expert per layer; without groups the "
                    + "DeepSeek-V3 router still sums the top 2 scores of its one group, so keep at least 2");
        }
        return new GroupRewrite(1, 1, true);
    }

    /** balanced (checked equal): the groups stay, if they can still hold each token's experts. */
    private static GroupRewrite keptGroups(ModelSpec spec, ExpertMask mask, Path maskFile) {
        Groups g = spec.moe().groups();
        int perGroup = mask.kept()[0].length / g.nGroup();
        String problem = g.balancedProblem(perGroup, spec.moe().topK());
        if (problem != null) throw MoepruneException.inFile(maskFile, problem);
        return new GroupRewrite(g.nGroup(), g.topkGroup(), false);
    }

    /** A mask without a strategy keeps the rules it was made under. */
    private static GroupRewrite unrecorded(ModelSpec spec, ExpertMask mask, Path maskFile) {
        if (firstUnevenLayer(spec, mask) == null) return keptGroups(spec, mask, maskFile);
        Groups g = spec.moe().groups();
        int perGroup = spec.moe().numExperts() / g.nGroup();
        int need = g.score() == Groups.GroupScore.SUM_TOP2 ? 2 : 1;
        for (int i = 0; i < mask.kept().length; i++) {
            int[] counts = countsPerGroup(mask.kept()[i], perGroup, g.nGroup());
            int used = 0;
            boolean finite = true;
            for (int c : counts) {
                if (c > 0) used++;
                if (c > 0 && c < need) finite = false;
            }
            if (used > g.topkGroup() || !finite) {
                throw MoepruneException.inFile(maskFile, "layer " + mask.moeLayers().get(i) + " keeps "
                        + Arrays.toString(counts) + " experts in its " + g.nGroup() + " expert groups; this mask "
                        + "records no strategy, and the pruned model can route like its mask mode only if every group "
                        + "keeps the same number or the kept experts lie in at most topk_group=" + g.topkGroup()
                        + " groups" + (need == 2 ? " with at least 2 each" : "")
                        + "; select again with --strategy nogroup (or balanced)");
            }
        }
        return new GroupRewrite(1, 1, true);
    }

    /** "layer L keeps [a, b, ...] experts in its N expert groups" for the first layer with unequal counts, else null. */
    private static String firstUnevenLayer(ModelSpec spec, ExpertMask mask) {
        Groups g = spec.moe().groups();
        int perGroup = spec.moe().numExperts() / g.nGroup();
        for (int i = 0; i < mask.kept().length; i++) {
            int[] counts = countsPerGroup(mask.kept()[i], perGroup, g.nGroup());
            if (Arrays.stream(counts).distinct().count() > 1) {
                return "layer " + mask.moeLayers().get(i) + " keeps " + Arrays.toString(counts) + " experts in its "
                        + g.nGroup() + " expert groups";
            }
        }
        return null;
    }

    static int[] countsPerGroup(int[] kept, int perGroup, int nGroup) {
        int[] counts = new int[nGroup];
        for (int e : kept) counts[e / perGroup]++;
        return counts;
    }
}
