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
