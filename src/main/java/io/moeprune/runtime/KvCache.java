package io.moeprune.runtime;

/**
 * Keys and values of every attention layer for the positions seen so far. Per layer and key/value head, the positions
 * are contiguous: head h's key of position p at {@code (h·capacity + p)·keyDim} (values alike). A decode step's
 * attention then reads each head's keys and values as one run through memory, which the hardware prefetchers follow;
 * with a position's heads side by side it read one head's 512 bytes every 2 KB. Capacity grows by doubling, so short
 * sessions stay small.
 */
public final class KvCache {
    private final float[][] keys;
    private final float[][] values;
    private final int heads;
    private final int keyDim;
    private final int valueDim;
    private int capacity;

    /**
     * @param keyWidth   floats per position of all heads' keys (heads · key dim)
     * @param valueWidth floats per position of all heads' values
     */
    public KvCache(int layers, int heads, int keyWidth, int valueWidth, int initialCapacity) {
        this(layers, heads, keyWidth, valueWidth, initialCapacity, true);
    }

    private KvCache(int layers, int heads, int keyWidth, int valueWidth, int initialCapacity, boolean allocateAll) {
        if (heads < 1 || keyWidth % heads != 0 || valueWidth % heads != 0) {
            throw new IllegalArgumentException(heads + " heads do not divide widths " + keyWidth + ", " + valueWidth);
        }
        this.keys = new float[layers][];
        this.values = new float[layers][];
        this.heads = heads;
        this.keyDim = keyWidth / heads;
        this.valueDim = valueWidth / heads;
        this.capacity = Math.max(1, initialCapacity);
        if (allocateAll) for (int l = 0; l < layers; l++) allocate(l);
    }

    /**
     * A cache whose layers get their arrays at their first {@link #put} and lose them at {@link #release}: the
     * layer-major order keeps one layer's keys and values at a time, not every layer's.
     */
    static KvCache onDemand(int layers, int heads, int keyWidth, int valueWidth, int initialCapacity) {
        return new KvCache(layers, heads, keyWidth, valueWidth, initialCapacity, false);
    }

    private void allocate(int layer) {
        keys[layer] = new float[capacity * heads * keyDim];
        values[layer] = new float[capacity * heads * valueDim];
    }

    /** Drops a layer's keys and values (the next put allocates them again). */
    void release(int layer) {
        keys[layer] = null;
        values[layer] = null;
    }

    /** Makes room for positions [0, positions): each head's block moves to its place in the larger arrays. */
    public void ensureCapacity(int positions) {
        if (positions <= capacity) return;
        int c = capacity;
        while (c < positions) c *= 2;
        for (int l = 0; l < keys.length; l++) {
            if (keys[l] == null) continue;
            keys[l] = grown(keys[l], keyDim, c);
            values[l] = grown(values[l], valueDim, c);
        }
        capacity = c;
    }

    private float[] grown(float[] old, int dim, int newCapacity) {
        float[] fresh = new float[heads * newCapacity * dim];
        for (int h = 0; h < heads; h++) System.arraycopy(old, h * capacity * dim, fresh, h * newCapacity * dim, capacity * dim);
        return fresh;
    }

    /**
     * Stores the keys and values of positions [startPos, startPos + n) of a layer, given as rows [n, heads·dim]
     * (all heads of a position side by side, as the projections make them).
     */
    public void put(int layer, float[] ks, float[] vs, int n, int startPos) {
        ensureCapacity(startPos + n);
        if (keys[layer] == null) allocate(layer);
        scatter(ks, keys[layer], keyDim, n, startPos);
        scatter(vs, values[layer], valueDim, n, startPos);
    }

    private void scatter(float[] rows, float[] cache, int dim, int n, int startPos) {
        for (int h = 0; h < heads; h++) {
            int dst = (h * capacity + startPos) * dim;
            for (int i = 0; i < n; i++) System.arraycopy(rows, (i * heads + h) * dim, cache, dst + i * dim, dim);
        }
    }

    public float[] keys(int layer) {
        return keys[layer];
    }

    public float[] values(int layer) {
        return values[layer];
    }

    /** Positions each head's block holds (the stride between heads, in positions). */
    public int capacity() {
        return capacity;
    }
}
