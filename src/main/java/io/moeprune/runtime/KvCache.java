package io.moeprune.runtime;

import java.util.Arrays;

/**
 * Keys and values of every attention layer for the positions seen so far. Keys are kept transposed, [key width]
 * [capacity]: entry c of position p's key row at {@code c·capacity + p}, so attention reads a vector of positions of one
 * key dimension at a time ({@link CausalAttention}). Values are rows: position p's at {@code p·valueWidth}. Key entries
 * of one head are contiguous in a row: entry c = kvHead·headDim + d. Capacity is a multiple of {@link #ALIGN} and
 * grows by doubling, so short sessions stay small.
 */
public final class KvCache {
    /** Capacity is a multiple of this many positions: whole vectors of positions for any vector width up to 64 floats. */
    static final int ALIGN = 64;

    private final float[][] keys;
    private final float[][] values;
    private final int keyWidth;
    private final int valueWidth;
    private int capacity;

    public KvCache(int layers, int keyWidth, int valueWidth, int initialCapacity) {
        this.keys = new float[layers][];
        this.values = new float[layers][];
        this.keyWidth = keyWidth;
        this.valueWidth = valueWidth;
        this.capacity = aligned(Math.max(1, initialCapacity));
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[capacity * keyWidth];
            values[l] = new float[capacity * valueWidth];
        }
    }

    private static int aligned(int positions) {
        return (positions + ALIGN - 1) / ALIGN * ALIGN;
    }

    /** Makes room for positions [0, positions). */
    public void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        int c = capacity;
        while (c < positions) c *= 2;
        for (int l = 0; l < keys.length; l++) {
            float[] grown = new float[c * keyWidth];
            for (int row = 0; row < keyWidth; row++) System.arraycopy(keys[l], row * capacity, grown, row * c, capacity);
            keys[l] = grown;
            values[l] = Arrays.copyOf(values[l], c * valueWidth);
        }
        capacity = c;
    }

    /**
     * Stores the keys and values of positions [start, start + n): ks [n, key width] and vs [n, value width] as rows
     * (the capacity must already hold them).
     */
    public void put(int layer, int start, int n, float[] ks, float[] vs) {
        if (start + n > capacity) throw new IllegalStateException("positions up to " + (start + n) + " > capacity " + capacity);
        float[] kt = keys[layer];
        // Row by row of the transposed keys: each writes a contiguous run of n positions.
        for (int c = 0; c < keyWidth; c++) {
            int dst = c * capacity + start;
            for (int i = 0; i < n; i++) kt[dst + i] = ks[i * keyWidth + c];
        }
        System.arraycopy(vs, 0, values[layer], start * valueWidth, n * valueWidth);
    }

    /** The transposed keys of a layer: entry c of position p at c·{@link #capacity()} + p. */
    public float[] keys(int layer) {
        return keys[layer];
    }

    /** The value rows of a layer: position p's at p·value width. */
    public float[] values(int layer) {
        return values[layer];
    }

    public int capacity() {
        return capacity;
    }
}
