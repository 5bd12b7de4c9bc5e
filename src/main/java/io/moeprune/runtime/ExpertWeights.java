package io.moeprune.runtime;

import io.moeprune.kernels.Parallel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The routed experts of one MoE layer. {@link PerExpertWeights} covers separate gate/up/down matrices per expert,
 * and fused 3-D layouts (GraniteMoE) as slices of them; {@link GptOssExperts} gpt-oss's fused projections.
 */
public interface ExpertWeights {
    int count();

    /** Expert {@code e}'s gate, up and down matrices. */
    SwiGlu expert(int e);

    /** Bytes of one expert's weights (for roofline estimates). */
    long expertBytes();

    /**
     * The memory expert {@code e}'s weights are read from, in a fixed order: slices of the mapped checkpoint (or the
     * copies {@link #readingFrom} put in their place). What {@link ResidentExperts} copies.
     */
    List<MemorySegment> expertMemory(int e);

    /**
     * These experts with expert e read from {@code memory.get(e)} (segments of the same sizes, in
     * {@link #expertMemory}'s order) where that is not null, from where they are read now otherwise. Dtypes, shapes
     * and scales are unchanged, so the products are the same to the bit.
     */
    ExpertWeights readingFrom(List<List<MemorySegment>> memory);

    /**
     * routed[t] = Σ over token t's slots of weights[slot] × expert ids[slot]'s output on token t: the contract of
     * {@link ExpertDispatch#run} (expert e's slots are {@code order[start[e]..start[e+1])}); {@code after} is the
     * product that follows, for threads that run out of work to read ahead (may be null).
     */
    default void run(float[] xn, int n, int k, int hidden, int[] start, int[] order, float[] weights, float[] routed,
                     float[] expertOut, Parallel.NextCall after) {
        ExpertDispatch.run(this, xn, n, k, hidden, start, order, weights, routed, expertOut, after);
    }
}
