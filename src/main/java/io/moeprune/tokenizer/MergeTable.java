package io.moeprune.tokenizer;

import java.util.Arrays;

/**
 * BPE merges as an open-addressing hash table from a pair of token ids to (rank, merged id): the inner loop of
 * encoding looks pairs up millions of times, so it avoids boxing.
 */
final class MergeTable {
    private static final long EMPTY = -1L;
    private final long[] keys;
    private final long[] values;
    private final int mask;
    private int size;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected) * 2 - 1) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        Arrays.fill(keys, EMPTY);
        mask = capacity - 1;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private static int slot(long key, int mask) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Adds a merge; a pair listed twice keeps its later entry, as tokenizers' map does. */
    void put(int left, int right, int rank, int mergedId) {
        long k = key(left, right);
        int i = slot(k, mask);
        while (keys[i] != EMPTY) {
            if (keys[i] == k) {
                values[i] = ((long) rank << 32) | (mergedId & 0xFFFFFFFFL);
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = k;
        values[i] = ((long) rank << 32) | (mergedId & 0xFFFFFFFFL);
        size++;
    }

    /** (rank << 32 | mergedId) of the pair, or -1 when the pair does not merge. */
    long get(int left, int right) {
        long k = key(left, right);
        int i = slot(k, mask);
        while (true) {
            long found = keys[i];
            if (found == k) {
                return values[i];
            }
            if (found == EMPTY) {
                return -1L;
            }
            i = (i + 1) & mask;
        }
    }

    int size() {
        return size;
    }
}
