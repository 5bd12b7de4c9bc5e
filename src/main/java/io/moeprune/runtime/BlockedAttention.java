package io.moeprune.runtime;

import io.moeprune.kernels.Exp;
import io.moeprune.kernels.LaneSums;
import io.moeprune.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Causal attention of a long batch (prefill) in blocks, as flash attention computes it: an item is one query head and
 * a block of {@link #QUERY_BLOCK} queries; it walks the head's keys in blocks of {@link #KEY_BLOCK} positions (each
 * transposed into a small buffer, so a query's scores come out a vector of positions at a time), keeps per query the
 * largest score so far, the sum of exponentials and the weighted values scaled to that score (an online softmax),
 * and divides at the end. A block of keys and values is read from memory once per block of queries and then serves
 * all of them from L1/L2; {@link VectorAttention}'s four-query path read a head's whole keys and values once per four
 * queries (a DeepSeek-V3 layer of 8 × 2048 tokens, 128 heads of 192/128: ~80 GB a sequence from L3 and memory, the
 * attention at ~5 GFLOP/s a thread on the GPU machine; issue 20).
 *
 * <p>A query's result depends only on its own scores and on the key blocks, which start at multiples of
 * {@link #KEY_BLOCK} whatever the query's block, thread count or batch split: positions it may not see get probability
 * exactly 0, and a block it sees nothing of leaves its sums as they were. It differs from the four-query path (which
 * normalises before weighting) by float rounding.
 */
final class BlockedAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Queries (of one head) per item: a multiple of {@link #QUERIES}. */
    static final int QUERY_BLOCK = 128;
    /** Key positions per block: a multiple of 2L for every x86 vector width (64 = 4 AVX-512 vectors). */
    static final int KEY_BLOCK = 64;
    /** Queries computed together by the micro-kernels (8 accumulators: 4 queries × 2 vectors). */
    private static final int QUERIES = 4;

    private BlockedAttention() {
    }

    /** As {@link VectorAttention#attend}: queries [n, heads·headDim], head-major cache, context [n, heads·valueDim]. */
    static float[] attend(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads, int kvHeads,
                          int headDim, int valueDim, float scale, int window, float[] sinks) {
        float[] ctx = new float[n * heads * valueDim];
        int group = heads / kvHeads, qBlocks = (n + QUERY_BLOCK - 1) / QUERY_BLOCK;
        long work = 4L * QUERY_BLOCK * (startPos + n / 2 + 1) * (headDim + valueDim);
        // Items of one head next to each other: a thread's run of items reuses the head's keys from its caches, and
        // runs of whole heads have the same mix of short (early) and long (late) query blocks.
        Parallel.forRange(heads * qBlocks, work, (from, to) -> {
            Scratch s = new Scratch(headDim, valueDim);
            for (int item = from; item < to; item++) {
                int h = item / qBlocks, i0 = item % qBlocks * QUERY_BLOCK;
                attendBlock(qs, kc, vc, capacity, n, startPos, heads, h, h / group, headDim, valueDim, scale, window,
                        sinks == null ? Float.NEGATIVE_INFINITY : sinks[h], i0, Math.min(n, i0 + QUERY_BLOCK), s, ctx);
            }
        });
        return ctx;
    }

    /** One thread's buffers. */
    private static final class Scratch {
        final float[] keysT, p = new float[QUERIES * KEY_BLOCK], out, max = new float[QUERY_BLOCK],
                sum = new float[QUERY_BLOCK];
        final int[] qOff = new int[QUERIES], oOff = new int[QUERIES];

        Scratch(int headDim, int valueDim) {
            keysT = new float[headDim * KEY_BLOCK];
            out = new float[QUERY_BLOCK * valueDim];
        }
    }

    /** Queries [i0, i1) of head h (key/value head kvh) into ctx. */
    private static void attendBlock(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads,
                                    int h, int kvh, int headDim, int valueDim, float scale, int window, float sink,
                                    int i0, int i1, Scratch s, float[] ctx) {
        int rows = i1 - i0;
        Arrays.fill(s.max, Float.NEGATIVE_INFINITY);
        Arrays.fill(s.sum, 0f);
        Arrays.fill(s.out, 0, rows * valueDim, 0f);
        int firstPos = startPos + i0, lastPos = startPos + i1 - 1;
        int lo = window > 0 ? Math.max(0, firstPos - window + 1) : 0;
        for (int k0 = lo / KEY_BLOCK * KEY_BLOCK; k0 <= lastPos; k0 += KEY_BLOCK) {
            int kn = Math.min(KEY_BLOCK, lastPos + 1 - k0);
            transposeKeys(kc, (kvh * capacity + k0) * headDim, headDim, kn, s.keysT);
            for (int g = 0; g < rows; g += QUERIES) {
                int count = Math.min(QUERIES, rows - g);
                // The group sees nothing of this block: its last query's position is before it, or (window) its
                // first query's first position is after it.
                if (startPos + i0 + g + count - 1 < k0) continue;
                if (window > 0 && startPos + i0 + g - window + 1 >= k0 + kn) continue;
                for (int r = 0; r < QUERIES; r++) {
                    s.qOff[r] = (i0 + g + Math.min(r, count - 1)) * heads * headDim + h * headDim;
                    s.oOff[r] = (g + r) * valueDim;
                }
                scores(qs, s.qOff, s.keysT, headDim, scale, s.p);
                for (int r = 0; r < QUERIES; r++) {
                    if (r >= count) {
                        Arrays.fill(s.p, r * KEY_BLOCK, (r + 1) * KEY_BLOCK, 0f);
                        continue;
                    }
                    int pos = startPos + i0 + g + r, first = window > 0 ? Math.max(0, pos - window + 1) : 0;
                    int jLo = Math.max(0, first - k0), jHi = Math.min(kn, pos + 1 - k0);
                    softmaxStep(s, r, g + r, jLo, jHi, valueDim);
                }
                weightedValues(s.p, vc, (kvh * capacity + k0) * valueDim, valueDim, kn, s.out, s.oOff);
            }
        }
        for (int r = 0; r < rows; r++) {
            float max = s.max[r], sum = s.sum[r], factor = 1f;
            if (sink != Float.NEGATIVE_INFINITY) {   // the sink as one more column, without a value
                float m = Math.max(max, sink);
                factor = Exp.exp(max - m);
                sum = sum * factor + Exp.exp(sink - m);
            }
            float inv = factor / sum;
            int out = ((i0 + r) * heads + h) * valueDim;
            for (int e = 0; e < valueDim; e++) ctx[out + e] = s.out[r * valueDim + e] * inv;
        }
    }

    /** keysT[d·KEY_BLOCK + j] = key j's dimension d for j &lt; kn, zero beyond (finite scores for the padding). */
    private static void transposeKeys(float[] kc, int from, int headDim, int kn, float[] keysT) {
        for (int j = 0; j < kn; j++) {
            int src = from + j * headDim;
            for (int d = 0; d < headDim; d++) keysT[d * KEY_BLOCK + j] = kc[src + d];
        }
        if (kn < KEY_BLOCK) {
            for (int d = 0; d < headDim; d++) Arrays.fill(keysT, d * KEY_BLOCK + kn, (d + 1) * KEY_BLOCK, 0f);
        }
    }

    /**
     * Row {@code r} of p (query {@code q} of the block, visible columns [jLo, jHi)): scores to probabilities relative to
     * the query's new largest score, its sum and weighted values so far rescaled to that score. Columns outside
     * [jLo, jHi) become 0.
     */
    private static void softmaxStep(Scratch s, int r, int q, int jLo, int jHi, int valueDim) {
        float[] p = s.p;
        int row = r * KEY_BLOCK;
        if (jHi <= jLo) {
            Arrays.fill(p, row, row + KEY_BLOCK, 0f);
            return;
        }
        float blockMax = Float.NEGATIVE_INFINITY;
        for (int j = jLo; j < jHi; j++) blockMax = Math.max(blockMax, p[row + j]);
        Arrays.fill(p, row, row + jLo, Float.NEGATIVE_INFINITY);
        Arrays.fill(p, row + jHi, row + KEY_BLOCK, Float.NEGATIVE_INFINITY);
        float old = s.max[q], max = Math.max(old, blockMax);
        FloatVector vsum = FloatVector.zero(F);
        for (int j = 0; j < KEY_BLOCK; j += L) {
            FloatVector e = Exp.exp(FloatVector.fromArray(F, p, row + j).sub(max));   // −∞ → 0
            e.intoArray(p, row + j);
            vsum = vsum.add(e);
        }
        float blockSum = LaneSums.sum(vsum);
        if (old == max) {
            s.sum[q] += blockSum;
            return;
        }
        float alpha = old == Float.NEGATIVE_INFINITY ? 0f : Exp.exp(old - max);
        s.sum[q] = s.sum[q] * alpha + blockSum;
        s.max[q] = max;
        float[] out = s.out;
        int o = q * valueDim, e = 0;
        for (; e + L <= valueDim; e += L) FloatVector.fromArray(F, out, o + e).mul(alpha).intoArray(out, o + e);
        for (; e < valueDim; e++) out[o + e] *= alpha;
    }

    /**
     * p[r·KEY_BLOCK + j] = q_r·k_j · scale for the four queries r and all KEY_BLOCK columns (padding: zero keys): the
     * four-query path's register tile over a key block of its own.
     */
    private static void scores(float[] q, int[] qOff, float[] kt, int headDim, float scale, float[] p) {
        VectorAttention.scoresOfQueries(q, qOff, kt, KEY_BLOCK, headDim, 0, KEY_BLOCK, scale, p);
    }

    /**
     * out[oOff[r]..+dim) += Σ_{j &lt; kn} p[r·KEY_BLOCK + j]·v_j for the four rows of p (zero where not visible; a row
     * past the block's queries is all zero and adds nothing): each value vector loaded serves the four queries.
     */
    private static void weightedValues(float[] p, float[] vc, int vOff, int dim, int kn, float[] out, int[] oOff) {
        int o0 = oOff[0], o1 = oOff[1], o2 = oOff[2], o3 = oOff[3];
        int d = 0;
        for (; d + 2 * L <= dim; d += 2 * L) {
            FloatVector a0 = FloatVector.fromArray(F, out, o0 + d), a1 = FloatVector.fromArray(F, out, o0 + d + L);
            FloatVector b0 = FloatVector.fromArray(F, out, o1 + d), b1 = FloatVector.fromArray(F, out, o1 + d + L);
            FloatVector c0 = FloatVector.fromArray(F, out, o2 + d), c1 = FloatVector.fromArray(F, out, o2 + d + L);
            FloatVector e0 = FloatVector.fromArray(F, out, o3 + d), e1 = FloatVector.fromArray(F, out, o3 + d + L);
            for (int j = 0, base = vOff + d; j < kn; j++, base += dim) {
                FloatVector v0 = FloatVector.fromArray(F, vc, base), v1 = FloatVector.fromArray(F, vc, base + L);
                FloatVector x = FloatVector.broadcast(F, p[j]);
                a0 = v0.fma(x, a0);
                a1 = v1.fma(x, a1);
                x = FloatVector.broadcast(F, p[KEY_BLOCK + j]);
                b0 = v0.fma(x, b0);
                b1 = v1.fma(x, b1);
                x = FloatVector.broadcast(F, p[2 * KEY_BLOCK + j]);
                c0 = v0.fma(x, c0);
                c1 = v1.fma(x, c1);
                x = FloatVector.broadcast(F, p[3 * KEY_BLOCK + j]);
                e0 = v0.fma(x, e0);
                e1 = v1.fma(x, e1);
            }
            a0.intoArray(out, o0 + d);
            a1.intoArray(out, o0 + d + L);
            b0.intoArray(out, o1 + d);
            b1.intoArray(out, o1 + d + L);
            c0.intoArray(out, o2 + d);
            c1.intoArray(out, o2 + d + L);
            e0.intoArray(out, o3 + d);
            e1.intoArray(out, o3 + d + L);
        }
        // A head width that is not a multiple of 2L: the rest one lane at a time.
        for (int r = 0; r < QUERIES; r++) {
            for (int e = d; e < dim; e++) {
                float acc = out[oOff[r] + e];
                for (int j = 0; j < kn; j++) acc = Math.fma(p[r * KEY_BLOCK + j], vc[vOff + j * dim + e], acc);
                out[oOff[r] + e] = acc;
            }
        }
    }
}
