package io.moeprune.runtime;

import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.MoeSpec.Scoring;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mask-mode routing of each {@link GroupStrategy} on routers with expert groups: nogroup and balanced route exactly as
 * the router of the pruned checkpoint (sliced logits and selection bias, the groups that prune writes), easyep-mul as
 * an independent transcription of EASY-EP's serving patch. 16 experts in 4 groups of 4, top-2 groups, top-4.
 */
class GroupStrategyRoutingTest {
    private static final int E = 16, K = 4;
    private static final Groups V3_GROUPS = new Groups(4, 2, Groups.GroupScore.SUM_TOP2);
    private static final Groups V2_GROUPS = new Groups(4, 2, Groups.GroupScore.MAX);

    private static MoeSpec spec(int experts, Scoring scoring, Groups groups) {
        return new MoeSpec(experts, K, 8, scoring, scoring == Scoring.SIGMOID, 2.5f, groups, scoring == Scoring.SIGMOID,
                false, 0, 0, false, MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU);
    }

    /** Chosen experts (original ids) -> weight, of the full router in mask mode. */
    private static float[] masked(MoeSpec spec, float[] bias, float[] logits, int[] kept, GroupStrategy s) {
        boolean[] allowed = new boolean[E];
        for (int x : kept) allowed[x] = true;
        int[] ids = new int[K];
        float[] w = new float[K];
        new Router(spec, bias).route(logits, 0, allowed, s, ids, w, 0, new float[2 * E]);
        float[] byExpert = new float[E];
        for (int i = 0; i < K; i++) byExpert[ids[i]] += w[i];
        return byExpert;
    }

    /** The same of the pruned router: logits and bias sliced to the kept experts, ids mapped back. */
    private static float[] pruned(MoeSpec spec, float[] bias, float[] logits, int[] kept) {
        float[] l = new float[kept.length], b = bias == null ? null : new float[kept.length];
        for (int j = 0; j < kept.length; j++) {
            l[j] = logits[kept[j]];
            if (b != null) b[j] = bias[kept[j]];
        }
        int[] ids = new int[K];
        float[] w = new float[K];
        new Router(spec, b).route(l, 0, null, ids, w, 0, new float[2 * kept.length]);
        float[] byExpert = new float[E];
        for (int i = 0; i < K; i++) byExpert[kept[ids[i]]] += w[i];
        return byExpert;
    }

    private static float[] randomBias(Random rnd) {
        float[] b = new float[E];
        // Wide enough that some biased scores are negative: the case where the strategies differ most.
        for (int i = 0; i < E; i++) b[i] = (float) (rnd.nextGaussian() * 0.6);
        return b;
    }

    private static float[] randomLogits(Random rnd) {
        float[] l = new float[E];
        for (int i = 0; i < E; i++) l[i] = (float) (rnd.nextGaussian() * 2);
        return l;
    }

    @Test
    void nogroupRoutesAsThePrunedRouterWithoutGroups() {
        Random rnd = new Random(11);
        int[] kept = {0, 1, 2, 3, 4, 5, 9, 14};   // [6, 1, 0, 1] per group: top-K by score ignores groups
        for (Scoring scoring : new Scoring[]{Scoring.SIGMOID, Scoring.SOFTMAX}) {
            Groups g = scoring == Scoring.SIGMOID ? V3_GROUPS : V2_GROUPS;
            MoeSpec full = spec(E, scoring, g), flat = spec(kept.length, scoring, Groups.NONE);
            for (int t = 0; t < 2000; t++) {
                float[] bias = scoring == Scoring.SIGMOID ? randomBias(rnd) : null, logits = randomLogits(rnd);
                assertArrayEquals(pruned(flat, bias, logits, kept), masked(full, bias, logits, kept, GroupStrategy.NOGROUP),
                        scoring + " trial " + t);
            }
        }
    }

    @Test
    void balancedRoutesAsThePrunedRouterWithItsGroups() {
        Random rnd = new Random(12);
        int[] kept = {1, 3, 4, 7, 8, 9, 13, 15};   // 2 per group
        for (Scoring scoring : new Scoring[]{Scoring.SIGMOID, Scoring.SOFTMAX}) {
            Groups g = scoring == Scoring.SIGMOID ? V3_GROUPS : V2_GROUPS;
            MoeSpec full = spec(E, scoring, g), grouped = spec(kept.length, scoring, g);
            for (int t = 0; t < 2000; t++) {
                float[] bias = scoring == Scoring.SIGMOID ? randomBias(rnd) : null, logits = randomLogits(rnd);
                assertArrayEquals(pruned(grouped, bias, logits, kept),
                        masked(full, bias, logits, kept, GroupStrategy.BALANCED), scoring + " trial " + t);
            }
        }
    }

    @Test
    void withoutGroupsEveryStrategyRoutesAlike() {
        Random rnd = new Random(13);
        int[] kept = {0, 2, 5, 6, 9, 11, 12, 15};
        MoeSpec spec = spec(E, Scoring.SIGMOID, Groups.NONE);
        for (int t = 0; t < 500; t++) {
            float[] bias = randomBias(rnd), logits = randomLogits(rnd);
            float[] want = masked(spec, bias, logits, kept, GroupStrategy.NOGROUP);
            assertArrayEquals(want, masked(spec, bias, logits, kept, GroupStrategy.BALANCED));
            assertArrayEquals(want, masked(spec, bias, logits, kept, GroupStrategy.EASYEP_MUL));
        }
    }

    /**
     * EASY-EP's biased_grouped_topk with their {@code tmp_scores * experts} line, transcribed: group scores from the
     * full biased scores, the chosen groups kept (outside: never chosen, as the router without a mask), removed
     * experts' choice scores times 0, weights the unbiased sigmoid scores of the chosen, renormalised, times 2.5.
     */
    private static float[] easyEpV3(float[] bias, float[] logits, int[] kept) {
        boolean[] keep = new boolean[E];
        for (int x : kept) keep[x] = true;
        double[] score = new double[E], choice = new double[E];
        for (int i = 0; i < E; i++) {
            score[i] = (float) (1 / (1 + Math.exp(-logits[i])));
            choice[i] = (float) score[i] + bias[i];
        }
        double[] groupScore = new double[4];
        for (int g = 0; g < 4; g++) {
            double[] m = Arrays.copyOfRange(choice, g * 4, g * 4 + 4);
            Arrays.sort(m);
            groupScore[g] = m[3] + m[2];
        }
        int first = argmax(groupScore, new boolean[4]);
        boolean[] chosenGroups = new boolean[4];
        chosenGroups[first] = true;
        chosenGroups[argmax(groupScore, chosenGroups)] = true;
        for (int i = 0; i < E; i++) {
            if (!chosenGroups[i / 4]) choice[i] = Double.NEGATIVE_INFINITY;
            else if (!keep[i]) choice[i] = 0;
        }
        boolean[] taken = new boolean[E];
        double sum = 0;
        for (int n = 0; n < K; n++) {
            int best = argmax(choice, taken);
            taken[best] = true;
            sum += score[best];
        }
        float[] w = new float[E];
        for (int i = 0; i < E; i++) if (taken[i]) w[i] = (float) (score[i] / sum * 2.5);
        return w;
    }

    private static int argmax(double[] v, boolean[] excluded) {
        int best = -1;
        for (int i = 0; i < v.length; i++) if (!excluded[i] && (best < 0 || v[i] > v[best])) best = i;
        return best;
    }

    @Test
    void easyepMulIsTheFullRouterWithRemovedScoresTimesZero() {
        Random rnd = new Random(14);
        int[] kept = {0, 1, 2, 3, 4, 5, 9, 14};
        MoeSpec full = spec(E, Scoring.SIGMOID, V3_GROUPS);
        int removedChosen = 0, differsFromNogroup = 0;
        for (int t = 0; t < 2000; t++) {
            float[] bias = randomBias(rnd), logits = randomLogits(rnd);
            float[] got = masked(full, bias, logits, kept, GroupStrategy.EASYEP_MUL), want = easyEpV3(bias, logits, kept);
            for (int i = 0; i < E; i++) assertEquals(want[i], got[i], 1e-5f, "trial " + t + " expert " + i);
            for (int i = 0; i < E; i++) if (got[i] != 0 && Arrays.binarySearch(kept, i) < 0) removedChosen++;
            if (!Arrays.equals(got, masked(full, bias, logits, kept, GroupStrategy.NOGROUP))) differsFromNogroup++;
        }
        // Removed experts in a chosen group are picked over kept ones with a negative biased score, and run.
        assertTrue(removedChosen > 0, "no removed expert was ever chosen");
        assertTrue(differsFromNogroup > 1000, "easyep-mul differed from nogroup in only " + differsFromNogroup);
    }

    @Test
    void easyepMulOnSoftmaxGroupsWeighsRemovedExpertsZero() {
        // DeepSeek-V2: the patch zeroes the probabilities themselves, so a removed expert, if chosen, weighs 0.
        MoeSpec full = spec(E, Scoring.SOFTMAX, V2_GROUPS);
        float[] logits = new float[E];
        logits[0] = 5f;   // group 0 wins by its best expert, which is removed
        logits[4] = 4f;   // group 1 second
        logits[5] = 1f;
        int[] kept = {4, 5, 6, 8, 9, 10, 12, 13};   // keeps nothing of group 0
        float[] w = masked(full, null, logits, kept, GroupStrategy.EASYEP_MUL);
        assertTrue(w[4] > 0 && w[5] > 0, Arrays.toString(w));
        for (int i = 0; i < 4; i++) assertEquals(0f, w[i], "removed expert " + i);
        // nogroup instead renormalises over the kept experts and never looks at group 0.
        float[] n = masked(full, null, logits, kept, GroupStrategy.NOGROUP);
        assertTrue(n[4] > w[4], "nogroup weight " + n[4] + " vs easyep-mul " + w[4]);
    }
}
