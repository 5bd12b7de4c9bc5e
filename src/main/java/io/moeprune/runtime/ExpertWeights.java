package io.moeprune.runtime;

/**
 * The routed experts of one MoE layer. {@link PerExpertWeights} covers separate gate/up/down matrices per expert,
 * and fused 3-D layouts (GraniteMoE) as slices of them.
 */
public interface ExpertWeights {
    int count();

    /** Expert {@code e}'s gate, up and down matrices. */
    SwiGlu expert(int e);

    /** Bytes of one expert's weights (for roofline estimates). */
    long expertBytes();
}
