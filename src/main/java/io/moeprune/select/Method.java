package io.moeprune.select;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.Collectors;

/**
 * Expert-importance scores computed from calibration statistics; larger means more important.
 * All methods read the same statistics file, so one calibration serves every comparison.
 */
public enum Method {
    /** EASY-EP: Σ g‖e‖s — output-aware importance weighted by the token's contribution. */
    EASYEP("easyep", "EASY-EP: sum of g*||e||*s"),
    /** EASY-EP ablation without the token contribution s: Σ g‖e‖. */
    EASYEP_NO_TOKEN("easyep-no-token", "EASY-EP without token contribution: sum of g*||e||"),
    /** EASY-EP ablation without the output norm: Σ g·s. */
    EASYEP_NO_NORM("easyep-no-norm", "EASY-EP without output norm: sum of g*s"),
    /** Sum of gate weights: Σ g. */
    GATING("gating", "sum of gate weights g"),
    /** Number of tokens routed to the expert. */
    FREQUENCY("frequency", "number of tokens routed to the expert"),
    /** REAP: mean g‖e‖ over the tokens routed to the expert (0 for an expert never routed to). */
    REAP("reap", "mean of g*||e|| over the tokens routed to the expert"),
    /** PreMoe TCESS as its reference code computes it: Σ over tokens of the raw top-1 router logit marker. */
    PREMOE("premoe", "PreMoe TCESS: sum of the top-1 raw router logit markers"),
    /** PreMoe, probability variant: Σ of the softmax over the top-k logits, for the chosen experts. */
    PREMOE_PROB("premoe-prob", "PreMoe variant: sum of top-k softmax probabilities"),
    /** Uniform random scores from a seed: the floor every method must beat. */
    RANDOM("random", "seeded random scores");

    private final String cliName;
    private final String description;

    Method(String cliName, String description) {
        this.cliName = cliName;
        this.description = description;
    }

    public String cliName() {
        return cliName;
    }

    public String description() {
        return description;
    }

    public static Method parse(String name) {
        return Arrays.stream(values()).filter(m -> m.cliName.equals(name)).findFirst().orElseThrow(
                () -> new MoepruneException("unknown method '" + name + "'; known methods: " + names()));
    }

    public static String names() {
        return Arrays.stream(values()).map(Method::cliName).collect(Collectors.joining(", "));
    }

    /** Scores [moe layer][expert] of one domain's statistics. */
    public double[][] scores(ExpertStats stats, long seed) {
        return switch (this) {
            case EASYEP -> stats.aggregate(Statistic.SUM_G_NORM_S);
            case EASYEP_NO_TOKEN -> stats.aggregate(Statistic.SUM_G_NORM);
            case EASYEP_NO_NORM -> stats.aggregate(Statistic.SUM_G_S);
            case GATING -> stats.aggregate(Statistic.SUM_G);
            case FREQUENCY -> stats.aggregate(Statistic.TOKENS_ROUTED);
            case PREMOE -> stats.aggregate(Statistic.PREMOE_TOP1_LOGIT);
            case PREMOE_PROB -> stats.aggregate(Statistic.PREMOE_TOPK_PROB);
            case REAP -> {
                double[][] num = stats.aggregate(Statistic.SUM_G_NORM);
                double[][] cnt = stats.aggregate(Statistic.TOKENS_ROUTED);
                for (int l = 0; l < num.length; l++) {
                    for (int e = 0; e < num[l].length; e++) num[l][e] = cnt[l][e] > 0 ? num[l][e] / cnt[l][e] : 0;
                }
                yield num;
            }
            case RANDOM -> {
                Random rnd = new Random(seed);
                double[][] r = new double[stats.numMoeLayers()][stats.numExperts()];
                for (double[] row : r) for (int e = 0; e < row.length; e++) row[e] = rnd.nextDouble();
                yield r;
            }
        };
    }
}
