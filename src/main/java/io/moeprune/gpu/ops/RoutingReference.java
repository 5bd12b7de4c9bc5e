package io.moeprune.gpu.ops;

import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;

/**
 * {@link HostOps}'s routing: the steps of the {@code route_tokens} and {@code group_by_expert} kernels of
 * {@code kernels.cu}, one token (one tile) at a time in Java, written from a {@link RoutingSpec} as the kernels are.
 * CI checks it against the CPU's {@code Router} (and {@code HostRouting}'s grouping), so what the kernels compute is
 * checked without a GPU, and the device tests check the kernels against it.
 *
 * <p>The kernels' choices are reductions over a warp's lanes, which give the CPU's sequential answer because a
 * choice is a max with the lower id winning ties (order-free), the one case that is not order-free handled apart: the
 * CPU's top-k keeps the first candidate left when it is NaN. Sums (the softmax's, the weights') are sequential in
 * expert or slot order, as on the CPU, so every float is the CPU's.
 */
final class RoutingReference {
    private RoutingReference() {
    }

    /**
     * Routes the token at logits[lOff .. lOff+E): k ids and weights at ids[oOff..], w[oOff..]. {@code kept}:
     * int flags or null; {@code scores}, {@code choice}: E floats each of scratch.
     */
    static void route(RoutingSpec s, GroupStrategy strategy, float[] logits, int lOff, float[] bias, int[] maskKept,
                      int[] ids, float[] w, int oOff, float[] scores, float[] choice) {
        int e = s.numExperts(), k = s.topK();
        boolean multiply = s.groups() && strategy == GroupStrategy.EASYEP_MUL && maskKept != null;
        int[] kept = multiply ? null : maskKept;       // EASY-EP's patch scores every expert, then removes
        switch (s.scoring()) {
            case SOFTMAX -> {
                float max = Float.NEGATIVE_INFINITY;   // a warp max in the kernel (NaN wins, as here)
                for (int i = 0; i < e; i++) if (allowed(kept, i)) max = Math.max(max, logits[lOff + i]);
                for (int i = 0; i < e; i++) scores[i] = allowed(kept, i) ? (float) Math.exp(logits[lOff + i] - max) : 0f;
                float sum = 0f;                        // lane 0, in expert order
                for (int i = 0; i < e; i++) sum += scores[i];
                for (int i = 0; i < e; i++) {
                    scores[i] /= sum;
                    choice[i] = allowed(kept, i) ? scores[i] : Float.NEGATIVE_INFINITY;
                }
            }
            case SOFTMAX_TOPK -> {
                for (int i = 0; i < e; i++) {
                    scores[i] = logits[lOff + i];
                    choice[i] = allowed(kept, i) ? scores[i] : Float.NEGATIVE_INFINITY;
                }
            }
            case SIGMOID -> {
                for (int i = 0; i < e; i++) {
                    scores[i] = 1f / (1f + (float) Math.exp(-logits[lOff + i]));
                    float c = bias == null ? scores[i] : scores[i] + bias[i];
                    choice[i] = allowed(kept, i) ? c : Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (s.groups() && strategy != GroupStrategy.NOGROUP) restrictToGroups(s, scores, choice);
        if (multiply) {
            for (int i = 0; i < e; i++) {
                if (maskKept[i] != 0) continue;
                if (choice[i] != s.outsideGroups()) choice[i] = 0f;
                if (s.scoring() == MoeSpec.Scoring.SOFTMAX) scores[i] = 0f;
            }
        }
        long[] taken = new long[(e + 63) / 64];
        for (int slot = 0; slot < k; slot++) {
            int id = best(choice, e, taken);
            taken[id >> 6] |= 1L << id;
            ids[oOff + slot] = id;
        }
        weights(s, scores, ids, w, oOff);
    }

    private static boolean allowed(int[] kept, int i) {
        return kept == null || kept[i] != 0;
    }

    /**
     * The CPU's top-k step among the candidates not taken: the first one left when it is NaN (the CPU's scan keeps
     * its first candidate until something compares greater, which nothing does with NaN), else the greatest of the
     * non-NaN ones, the lower id on equal values: two order-free reductions in the kernel.
     */
    static int best(float[] v, int n, long[] taken) {
        int first = -1, best = -1;
        for (int i = 0; i < n; i++) {
            if ((taken[i >> 6] & 1L << i) != 0) continue;
            if (first < 0) first = i;
            if (v[i] == v[i] && (best < 0 || v[i] > v[best])) best = i;
        }
        return v[first] != v[first] || best < 0 ? first : best;
    }

    /**
     * Keeps the topkGroup best groups (group score: the best choice score, or the sum of the two best); the other
     * groups' candidates score {@link RoutingSpec#outsideGroups}, and with a 0 fill (DeepSeek-V2) weigh 0.
     */
    private static void restrictToGroups(RoutingSpec s, float[] scores, float[] choice) {
        int per = s.numExperts() / s.nGroup();
        float[] groupScore = new float[s.nGroup()];
        for (int g = 0; g < s.nGroup(); g++) {             // one lane per group in the kernel, in expert order
            float best = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
            for (int i = g * per; i < (g + 1) * per; i++) {
                float v = choice[i];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            groupScore[g] = s.sumTop2() ? best + second : best;
        }
        long[] keep = new long[(s.nGroup() + 63) / 64];
        for (int j = 0; j < s.topkGroup(); j++) {
            int g = best(groupScore, s.nGroup(), keep);
            keep[g >> 6] |= 1L << g;
        }
        float outside = s.outsideGroups();
        for (int i = 0; i < s.nGroup() * per; i++) {
            int g = i / per;
            if ((keep[g >> 6] & 1L << g) != 0 || choice[i] == Float.NEGATIVE_INFINITY) continue;
            choice[i] = outside;
            if (outside == 0f) scores[i] = 0f;
        }
    }

    /** The chosen experts' weights, summed in slot order: softmax over the chosen (gpt-oss) or their scores. */
    private static void weights(RoutingSpec s, float[] scores, int[] ids, float[] w, int oOff) {
        int k = s.topK();
        float sum = 0f;
        if (s.scoring() == MoeSpec.Scoring.SOFTMAX_TOPK) {
            float max = scores[ids[oOff]];
            for (int j = 0; j < k; j++) {
                w[oOff + j] = (float) Math.exp(scores[ids[oOff + j]] - max);
                sum += w[oOff + j];
            }
            for (int j = 0; j < k; j++) w[oOff + j] /= sum;
        } else {
            for (int j = 0; j < k; j++) {
                w[oOff + j] = scores[ids[oOff + j]];
                sum += w[oOff + j];
            }
            if (s.normalise()) for (int j = 0; j < k; j++) w[oOff + j] /= sum;
        }
        if (s.scaling() != 1f && s.scaling() != 0f) for (int j = 0; j < k; j++) w[oOff + j] *= s.scaling();
    }

    /**
     * The kernels' stable counting sort of ids [slots] by expert, tile by tile of {@link DeviceOps#GROUPING_TILE}
     * slots: each tile's count of each expert into {@code tiles} [tiles, E] (pass 1), then expertStart [E+1] and, in
     * place, where each tile's pairs of each expert start (pass 2), then each slot's grouped position, in slot order
     * within its tile (pass 3).
     */
    static void groupByExpert(int[] ids, int k, int experts, int[] tiles, int[] expertStart, int[] gatherRow,
                              int[] slotRow) {
        int slots = ids.length, tileCount = (slots + DeviceOps.GROUPING_TILE - 1) / DeviceOps.GROUPING_TILE;
        java.util.Arrays.fill(tiles, 0, tileCount * experts, 0);
        for (int s = 0; s < slots; s++) tiles[s / DeviceOps.GROUPING_TILE * experts + ids[s]]++;
        expertStart[0] = 0;
        for (int e = 0; e < experts; e++) {
            int running = expertStart[e];
            for (int t = 0; t < tileCount; t++) {
                int c = tiles[t * experts + e];
                tiles[t * experts + e] = running;
                running += c;
            }
            expertStart[e + 1] = running;
        }
        for (int s = 0; s < slots; s++) {
            int at = tiles[s / DeviceOps.GROUPING_TILE * experts + ids[s]]++;
            gatherRow[at] = s / k;
            slotRow[s] = at;
        }
    }
}
