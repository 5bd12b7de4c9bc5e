package io.moeprune.runtime;

import java.util.Arrays;

/**
 * Keys and values of every attention layer for the positions seen so far. Per layer, position p's entries for all
 * key/value heads are contiguous: key of head h at {@code (p·width + h·headDim)} where width = kvHeads·headDim.
 * Capacity grows by doubling, so short sessions stay small.
 */
public final class KvCache {
    private final float[][] keys;
    private final float[][] values;
    private final int[] keyWidth;
    private final int[] valueWidth;
    private int capacity;

    public KvCache(int layers, int keyWidth, int valueWidth, int initialCapacity) {
        this.keys = new float[layers][];
        this.values = new float[layers][];
        this.keyWidth = new int[layers];
        this.valueWidth = new int[layers];
        Arrays.fill(this.keyWidth, keyWidth);
        Arrays.fill(this.valueWidth, valueWidth);
        this.capacity = Math.max(1, initialCapacity);
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[capacity * keyWidth];
            values[l] = new float[capacity * valueWidth];
        }
    }

    /** Makes room for positions [0, positions). */
    public void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        int c = capacity;
        while (c < positions) c *= 2;
        for (int l = 0; l < keys.length; l++) {
            keys[l] = Arrays.copyOf(keys[l], c * keyWidth[l]);
            values[l] = Arrays.copyOf(values[l], c * valueWidth[l]);
        }
        capacity = c;
    }

    public float[] keys(int layer) {
        return keys[layer];
    }

    public float[] values(int layer) {
        return values[layer];
    }

    public int capacity() {
        return capacity;
    }
}
