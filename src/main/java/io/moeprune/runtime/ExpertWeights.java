package io.moeprune.runtime;

/**
 * The routed experts of one MoE layer. {@link PerExpertWeights} covers separate gate/up/down matrices per expert;
 * fused 3-D layouts (gpt-oss, GraniteMoE) would add their own implementation returning slices.
 */
public interface ExpertWeights {
    int count();

    /** Applies expert {@code e} to n rows of x [n, hidden], writing its unweighted output [n, hidden]. */
    void apply(int e, float[] x, int n, float[] out);

    /** Bytes of one expert's weights (for roofline estimates). */
    long expertBytes();
}
