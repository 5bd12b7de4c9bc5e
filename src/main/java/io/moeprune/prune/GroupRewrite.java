package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;

import java.nio.file.Path;

/**
 * How group-limited routing (DeepSeek-V2 group_limited_greedy, DeepSeek-V3 noaux_tc: {@code n_group} /
 * {@code topk_group}) is carried into the pruned config so that the pruned model routes exactly as the full model
 * in mask mode, where dropped experts never compete and group scores are taken over the kept experts only.
 *
 * <ul>
 *   <li>Every group keeps the same number of experts G = K / n_group: renumbering keeps each group contiguous
 *       (group g becomes experts g·G .. g·G+G-1), so the pruned model's groups are the original groups restricted
 *       to the kept experts, and their scores (max, or sum of the top-2) are the same numbers. {@code n_group} and
 *       {@code topk_group} stay. Needs G &ge; 2 for the top-2 sum and topk_group·G &ge; top-k.</li>
 *   <li>Otherwise, when the kept experts lie in at most {@code topk_group} groups (each with enough kept experts
 *       for a finite group score), mask mode always selects all those groups, so the restriction changes nothing:
 *       {@code n_group = topk_group = 1} is exactly equivalent.</li>
 *   <li>Anything else is refused: no single pair of values reproduces the masked routing.</li>
 * </ul>
 */
record GroupRewrite(int nGroup, int topkGroup, boolean changed) {

    /** {@code null} when the model does not use expert groups. */
    static GroupRewrite plan(ModelSpec spec, ExpertMask mask, Path maskFile) {
        Groups g = spec.moe().groups();
        if (!g.enabled()) return null;
        int perGroup = spec.moe().numExperts() / g.nGroup();
        int need = g.score() == Groups.GroupScore.SUM_TOP2 ? 2 : 1;
        int topK = spec.moe().topK();
        boolean allEqual = true;
        for (int i = 0; i < mask.kept().length; i++) {
            int[] counts = countsPerGroup(mask.kept()[i], perGroup, g.nGroup());
            for (int c : counts) allEqual &= c == counts[0];
        }
        if (allEqual) {
            int kept = mask.kept()[0].length / g.nGroup();
            if (kept < need) {
                throw MoepruneException.inFile(maskFile, "each of the " + g.nGroup() + " expert groups keeps " + kept
                        + " expert(s) but the group score (sum of the top 2) needs at least 2 per group");
            }
            if ((long) g.topkGroup() * kept < topK) {
                throw MoepruneException.inFile(maskFile, "the " + g.topkGroup() + " selected groups would hold only "
                        + g.topkGroup() * kept + " kept experts, fewer than the " + topK + " each token is routed to");
            }
            return new GroupRewrite(g.nGroup(), g.topkGroup(), false);
        }
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
                        + java.util.Arrays.toString(counts) + " experts in its " + g.nGroup() + " expert groups; the pruned "
                        + "model can route exactly like mask mode only if every group keeps the same number (select "
                        + "with --per-group) or the kept experts lie in at most topk_group=" + g.topkGroup() + " groups"
                        + (need == 2 ? " with at least 2 each" : ""));
            }
        }
        return new GroupRewrite(1, 1, true);
    }

    static int[] countsPerGroup(int[] kept, int perGroup, int nGroup) {
        int[] counts = new int[nGroup];
        for (int e : kept) counts[e / perGroup]++;
        return counts;
    }
}
