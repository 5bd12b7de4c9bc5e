package io.moeprune.gpu.runtime;

import io.moeprune.model.GroupStrategy;
import io.moeprune.runtime.Router;

/**
 * A chunk's routing, done on the host by the CPU runtime's own {@link Router} (same mask, group strategy, selection
 * bias and renormalisation, so the choices are the CPU's given the same logits), laid out as the device's MoE steps
 * take it: the (token, slot) pairs grouped by expert, in token order within an expert.
 *
 * @param ids         chosen expert of each slot [n·k], best first per token
 * @param weights     g of each slot [n·k]
 * @param expertStart expert e's pairs are [expertStart[e], expertStart[e+1]) of the grouped order [E+1]
 * @param gatherRow   the token of each position of the grouped order [n·k] (rows gathered for the experts)
 * @param slotRow     the position of each slot in the grouped order [n·k] (where its expert output lies)
 */
record HostRouting(int[] ids, float[] weights, int[] expertStart, int[] gatherRow, int[] slotRow) {

    /** Routes the n tokens of {@code logits} [n, E]; {@code kept} is the layer's mask (null: every expert). */
    static HostRouting route(Router router, float[] logits, int n, int numExperts, int k, boolean[] kept,
                             GroupStrategy strategy) {
        int[] ids = new int[n * k];
        float[] w = new float[n * k];
        float[] scratch = new float[2 * numExperts];
        for (int t = 0; t < n; t++) router.route(logits, t * numExperts, kept, strategy, ids, w, t * k, scratch);
        return grouped(ids, w, numExperts, k);
    }

    /** The routing of chosen {@code ids} [n·k] with weights {@code w}, grouped by expert (a stable counting sort). */
    static HostRouting grouped(int[] ids, float[] w, int numExperts, int k) {
        int[] start = new int[numExperts + 1];
        for (int id : ids) start[id + 1]++;
        for (int e = 0; e < numExperts; e++) start[e + 1] += start[e];
        int[] fill = java.util.Arrays.copyOf(start, numExperts);
        int[] gatherRow = new int[ids.length], slotRow = new int[ids.length];
        for (int slot = 0; slot < ids.length; slot++) {
            int j = fill[ids[slot]]++;
            gatherRow[j] = slot / k;
            slotRow[slot] = j;
        }
        return new HostRouting(ids, w, start, gatherRow, slotRow);
    }

    /** Tokens routed to expert e. */
    int count(int e) {
        return expertStart[e + 1] - expertStart[e];
    }
}
