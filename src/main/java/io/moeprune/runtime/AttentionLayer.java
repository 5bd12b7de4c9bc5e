package io.moeprune.runtime;

/**
 * One layer's self-attention over a batch of consecutive positions. Implementations: {@link GqaAttention}
 * (multi-head / grouped-query); DeepSeek's MLA would be another implementation with its own cache widths.
 */
public interface AttentionLayer {

    /**
     * Attends the {@code n} normalised rows {@code xn} [n, hidden] at positions startPos..startPos+n-1 to themselves
     * and to the cached earlier positions, appends their keys/values to the cache, and writes the output
     * projection [n, hidden] to {@code out}.
     */
    void forward(float[] xn, int n, int startPos, KvCache cache, int layer, float[] out);

    /**
     * A batched decode step: row i of {@code xn} [n, hidden] (rows {@code hidden} wide; the arrays may be longer) is
     * the next token of sequence i, at position
     * {@code positions[i]} of its own cache {@code caches[i]}; the output projections go to {@code out} [n, hidden].
     * By default each row runs alone; an implementation may project all rows at once (its weights read once a step).
     */
    default void forwardRows(float[] xn, int n, int hidden, int[] positions, KvCache[] caches, int layer, float[] out) {
        float[] row = new float[hidden], rowOut = new float[hidden];
        for (int i = 0; i < n; i++) {
            System.arraycopy(xn, i * hidden, row, 0, hidden);
            forward(row, 1, positions[i], caches[i], layer, rowOut);
            System.arraycopy(rowOut, 0, out, i * hidden, hidden);
        }
    }

    /** Floats per position this layer stores as keys, and as values, in the cache (all its cached heads). */
    int cacheKeyWidth();

    /** Heads this layer caches keys and values for (the key/value heads). */
    int cacheHeads();

    int cacheValueWidth();

    /**
     * This layer's first product for a single row (a decode step's q/k/v), as a coming parallel call for idle threads
     * to read ahead ({@link io.moeprune.kernels.Parallel#readAheadFor}); null if it has none to offer.
     */
    default io.moeprune.kernels.Parallel.NextCall firstProduct() {
        return null;
    }
}
