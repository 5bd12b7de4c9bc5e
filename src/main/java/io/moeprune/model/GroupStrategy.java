package io.moeprune.model;

import io.moeprune.MoepruneException;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * How a mask routes around removed experts in a router with expert groups ({@code n_group > 1}: DeepSeek-V2
 * group_limited_greedy, DeepSeek-V3 noaux_tc), and so how {@code prune} writes the groups (docs/pruning.md, "Expert
 * groups"). For routers without groups every strategy routes the same: removed experts simply never compete.
 *
 * <ul>
 *   <li>{@link #NOGROUP}: top-K by score, ignoring groups. Mask mode routes over the kept experts only, without group
 *       limiting; {@code prune} slices router rows and selection bias and writes {@code n_group = topk_group = 1}.</li>
 *   <li>{@link #BALANCED}: an equal number kept in every group. Mask mode keeps the groups, scored over the kept
 *       experts only; {@code prune} keeps {@code n_group} and {@code topk_group}. A mask without a strategy (written
 *       before the field existed) routes this way too.</li>
 *   <li>{@link #EASYEP_MUL}: EASY-EP's published serving patch (their sglang {@code grouped_topk} /
 *       {@code biased_grouped_topk}): the full router runs, group scores over all experts, then the removed experts'
 *       choice scores are multiplied by 0. Mask mode only: no pruned checkpoint routes like this.</li>
 * </ul>
 */
public enum GroupStrategy {
    NOGROUP("nogroup"), BALANCED("balanced"), EASYEP_MUL("easyep-mul");

    private final String cliName;

    GroupStrategy(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line and in mask files. */
    public String cliName() {
        return cliName;
    }

    /** Parses a command-line / mask-file name; the message lists the names that exist. */
    public static GroupStrategy parse(String name) {
        for (GroupStrategy s : values()) if (s.cliName.equals(name)) return s;
        throw new MoepruneException("unknown strategy '" + name + "'; use one of " + names());
    }

    public static String names() {
        return Arrays.stream(values()).map(GroupStrategy::cliName).collect(Collectors.joining(", "));
    }
}
