package io.moeprune.runtime;

import io.moeprune.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal softmax attention of a batch of query rows against the cached keys/values (eager attention as
 * transformers computes it: scores·scale, softmax in F32, weighted sum of values). Query head h reads key/value
 * head h / (heads / kvHeads). Shared by every attention kind that caches plain keys and values.
 *
 * <p>The cache keeps its keys transposed ({@link KvCache}: [key width][position]), so scores come out a vector of
 * positions at a time with no horizontal reductions (a per-position dot product of a 64- or 128-wide head spends most
 * of its time reducing lanes), four queries that share a key/value head at a time: each key vector loaded serves all
 * four, and their 8 accumulators hide the FMA latency. A batch (prefill) takes four consecutive queries of one head;
 * a single row (decode) takes four heads of one key/value group.
 */
final class CausalAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** From this many query rows on, a block of queries is consecutive rows of one head, else heads of one group. */
    private static final int ROW_BLOCK_MIN_ROWS = 4;
    /** Queries computed together against the transposed keys (4 queries × 2 vectors = 8 accumulators). */
    private static final int QUERIES = 4;

    private CausalAttention() {
    }

    /**
     * @param qs  queries [n, heads·headDim]
     * @return    context [n, heads·valueDim]
     */
    static float[] attend(float[] qs, KvCache cache, int layer, int n, int startPos, int heads, int kvHeads,
                          int headDim, int valueDim, float scale, int window) {
        float[] ctx = new float[n * heads * valueDim];
        float[] kt = cache.keys(layer), vc = cache.values(layer);
        int kStride = cache.capacity();
        if (kStride % L != 0) throw new IllegalStateException("key cache stride " + kStride + " is not whole vectors");
        int group = heads / kvHeads, total = startPos + n;
        int sStride = (total + L - 1) / L * L;   // padded positions per row of scores
        boolean rowBlocks = n >= ROW_BLOCK_MIN_ROWS;
        // A block: QUERIES consecutive rows of one head, or (few rows) up to QUERIES heads of one group in one row.
        int chunks = (group + QUERIES - 1) / QUERIES;
        int blocks = rowBlocks ? (n + QUERIES - 1) / QUERIES * heads : n * kvHeads * chunks;
        int queriesPerBlock = rowBlocks ? QUERIES : Math.min(QUERIES, group);
        Parallel.forRange(blocks, 8L * queriesPerBlock * total * headDim, (from, to) -> {
            float[] scores = new float[QUERIES * sStride];
            int[] qOff = new int[QUERIES], first = new int[QUERIES], end = new int[QUERIES], out = new int[QUERIES];
            for (int task = from; task < to; task++) {
                int kvh, count;
                if (rowBlocks) {
                    int i0 = task / heads * QUERIES, h = task % heads;
                    kvh = h / group;
                    count = Math.min(QUERIES, n - i0);
                    for (int r = 0; r < QUERIES; r++) {
                        int i = i0 + Math.min(r, count - 1);   // a short last block repeats its last query; not written
                        query(i, h, startPos, heads, headDim, valueDim, window, r, qOff, first, end, out);
                    }
                } else {
                    int i = task / (kvHeads * chunks), c = task % (kvHeads * chunks);
                    kvh = c / chunks;
                    int h0 = kvh * group + (c % chunks) * QUERIES;
                    count = Math.min(QUERIES, (kvh + 1) * group - h0);
                    for (int r = 0; r < QUERIES; r++) {
                        query(i, h0 + Math.min(r, count - 1), startPos, heads, headDim, valueDim, window, r, qOff, first,
                                end, out);
                    }
                }
                int lo = Integer.MAX_VALUE, hi = 0;
                for (int r = 0; r < count; r++) {
                    lo = Math.min(lo, first[r]);
                    hi = Math.max(hi, end[r]);
                }
                lo = lo / L * L;   // whole vectors of positions: [lo, hi rounded up) lies within both strides
                int kOff = kvh * headDim * kStride;
                if (count == 1) scoresOfQuery(qs, qOff[0], kt, kOff, kStride, headDim, lo, hi, scale, scores);
                else scoresOfQueries(qs, qOff, kt, kOff, kStride, headDim, lo, hi, scale, scores, sStride);
                for (int r = 0; r < count; r++) {
                    int row = r * sStride;
                    softmax(scores, row + first[r], row + end[r]);
                    java.util.Arrays.fill(scores, row + lo, row + first[r], 0f);
                    java.util.Arrays.fill(scores, row + end[r], row + hi, 0f);
                }
                weightedValuesOfQueries(scores, sStride, lo, hi, vc, kvHeads * valueDim, kvh * valueDim, valueDim,
                        ctx, out, count);
            }
        });
        return ctx;
    }

    /** Query slot r of a block: row i's head h, its first and end (exclusive) visible positions, its output offset. */
    private static void query(int i, int h, int startPos, int heads, int headDim, int valueDim, int window, int r,
                              int[] qOff, int[] first, int[] end, int[] out) {
        int pos = startPos + i;
        qOff[r] = i * heads * headDim + h * headDim;
        first[r] = window > 0 ? Math.max(0, pos - window + 1) : 0;
        end[r] = pos + 1;
        out[r] = (i * heads + h) * valueDim;
    }

    /**
     * scores[t] = q·k_t · scale for one query at q[qOff..] and t in [from, to) (from a multiple of L), whole vectors of
     * positions; key row d of the head at kt[kOff + d·kStride].
     */
    private static void scoresOfQuery(float[] q, int qOff, float[] kt, int kOff, int kStride, int headDim, int from,
                                      int to, float scale, float[] scores) {
        int t = from;
        for (; t + L < to; t += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
            int d = 0, row = kOff + t;
            for (; d + 1 < headDim; d += 2, row += 2 * kStride) {   // two keys rows per step: 4 accumulators
                FloatVector x = FloatVector.broadcast(F, q[qOff + d]), y = FloatVector.broadcast(F, q[qOff + d + 1]);
                a0 = FloatVector.fromArray(F, kt, row).fma(x, a0);
                a1 = FloatVector.fromArray(F, kt, row + L).fma(x, a1);
                b0 = FloatVector.fromArray(F, kt, row + kStride).fma(y, b0);
                b1 = FloatVector.fromArray(F, kt, row + kStride + L).fma(y, b1);
            }
            if (d < headDim) {
                FloatVector x = FloatVector.broadcast(F, q[qOff + d]);
                a0 = FloatVector.fromArray(F, kt, row).fma(x, a0);
                a1 = FloatVector.fromArray(F, kt, row + L).fma(x, a1);
            }
            a0.add(b0).mul(scale).intoArray(scores, t);
            a1.add(b1).mul(scale).intoArray(scores, t + L);
        }
        if (t < to) {
            FloatVector a0 = FloatVector.zero(F);
            for (int d = 0, row = kOff + t; d < headDim; d++, row += kStride) {
                a0 = FloatVector.fromArray(F, kt, row).fma(FloatVector.broadcast(F, q[qOff + d]), a0);
            }
            a0.mul(scale).intoArray(scores, t);
        }
    }

    /**
     * scores[r·stride + t] = q_r·k_t · scale for the {@link #QUERIES} queries r and t in [from, to) (from a multiple of
     * L), whole vectors of positions; key row d of the head at kt[kOff + d·kStride].
     */
    private static void scoresOfQueries(float[] q, int[] qOff, float[] kt, int kOff, int kStride, int headDim,
                                        int from, int to, float scale, float[] scores, int stride) {
        int q0 = qOff[0], q1 = qOff[1], q2 = qOff[2], q3 = qOff[3];
        int t = from;
        for (; t + L < to; t += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (int d = 0, row = kOff + t; d < headDim; d++, row += kStride) {
                FloatVector k0 = FloatVector.fromArray(F, kt, row), k1 = FloatVector.fromArray(F, kt, row + L);
                FloatVector x = FloatVector.broadcast(F, q[q0 + d]);
                a0 = k0.fma(x, a0);
                a1 = k1.fma(x, a1);
                x = FloatVector.broadcast(F, q[q1 + d]);
                b0 = k0.fma(x, b0);
                b1 = k1.fma(x, b1);
                x = FloatVector.broadcast(F, q[q2 + d]);
                c0 = k0.fma(x, c0);
                c1 = k1.fma(x, c1);
                x = FloatVector.broadcast(F, q[q3 + d]);
                d0 = k0.fma(x, d0);
                d1 = k1.fma(x, d1);
            }
            a0.mul(scale).intoArray(scores, t);
            a1.mul(scale).intoArray(scores, t + L);
            b0.mul(scale).intoArray(scores, stride + t);
            b1.mul(scale).intoArray(scores, stride + t + L);
            c0.mul(scale).intoArray(scores, 2 * stride + t);
            c1.mul(scale).intoArray(scores, 2 * stride + t + L);
            d0.mul(scale).intoArray(scores, 3 * stride + t);
            d1.mul(scale).intoArray(scores, 3 * stride + t + L);
        }
        if (t < to) {
            FloatVector a0 = FloatVector.zero(F), b0 = a0, c0 = a0, d0 = a0;
            for (int d = 0, row = kOff + t; d < headDim; d++, row += kStride) {
                FloatVector k0 = FloatVector.fromArray(F, kt, row);
                a0 = k0.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                b0 = k0.fma(FloatVector.broadcast(F, q[q1 + d]), b0);
                c0 = k0.fma(FloatVector.broadcast(F, q[q2 + d]), c0);
                d0 = k0.fma(FloatVector.broadcast(F, q[q3 + d]), d0);
            }
            a0.mul(scale).intoArray(scores, t);
            b0.mul(scale).intoArray(scores, stride + t);
            c0.mul(scale).intoArray(scores, 2 * stride + t);
            d0.mul(scale).intoArray(scores, 3 * stride + t);
        }
    }

    /** In-place softmax of scores[from, to). */
    private static void softmax(float[] s, int from, int to) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t = from; t < to; t++) if (s[t] > max) max = s[t];
        float sum = 0f;
        int t = from;
        if (to - from >= L) {
            FloatVector vsum = FloatVector.zero(F);
            for (; t + L <= to; t += L) {
                FloatVector e = FloatVector.fromArray(F, s, t).sub(max).lanewise(VectorOperators.EXP);
                e.intoArray(s, t);
                vsum = vsum.add(e);
            }
            sum = vsum.reduceLanes(VectorOperators.ADD);
        }
        for (; t < to; t++) {
            float e = (float) Math.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (t = from; t < to; t++) s[t] *= inv;
    }

    /**
     * For the first {@code count} of the {@link #QUERIES} rows of probabilities p (rows {@code stride} apart, zero
     * outside each query's positions): out[outOff[r]..+dim) = Σ_{t in [from, to)} p[r·stride + t]·v_t.
     */
    private static void weightedValuesOfQueries(float[] p, int stride, int from, int to, float[] vc, int rowWidth,
                                                int vOff, int dim, float[] out, int[] outOff, int count) {
        int d = 0;
        for (; d + 2 * L <= dim; d += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
            int base = from * rowWidth + vOff + d;
            for (int t = from; t < to; t++, base += rowWidth) {
                FloatVector v0 = FloatVector.fromArray(F, vc, base), v1 = FloatVector.fromArray(F, vc, base + L);
                FloatVector x = FloatVector.broadcast(F, p[t]);
                a0 = v0.fma(x, a0);
                a1 = v1.fma(x, a1);
                x = FloatVector.broadcast(F, p[stride + t]);
                b0 = v0.fma(x, b0);
                b1 = v1.fma(x, b1);
                x = FloatVector.broadcast(F, p[2 * stride + t]);
                c0 = v0.fma(x, c0);
                c1 = v1.fma(x, c1);
                x = FloatVector.broadcast(F, p[3 * stride + t]);
                e0 = v0.fma(x, e0);
                e1 = v1.fma(x, e1);
            }
            // Written out, not through an array of vectors: that would box them.
            a0.intoArray(out, outOff[0] + d);
            a1.intoArray(out, outOff[0] + d + L);
            if (count > 1) {
                b0.intoArray(out, outOff[1] + d);
                b1.intoArray(out, outOff[1] + d + L);
            }
            if (count > 2) {
                c0.intoArray(out, outOff[2] + d);
                c1.intoArray(out, outOff[2] + d + L);
            }
            if (count > 3) {
                e0.intoArray(out, outOff[3] + d);
                e1.intoArray(out, outOff[3] + d + L);
            }
        }
        // The rest of a head width that is not a multiple of 2L (80, say): per query, one vector or lane at a time.
        for (int r = 0; r < count; r++) {
            int row = r * stride;
            for (int e = d; e < dim; ) {
                int base = from * rowWidth + vOff + e;
                if (e + L <= dim) {
                    FloatVector a = FloatVector.zero(F);
                    for (int t = from; t < to; t++, base += rowWidth) {
                        a = FloatVector.fromArray(F, vc, base).fma(FloatVector.broadcast(F, p[row + t]), a);
                    }
                    a.intoArray(out, outOff[r] + e);
                    e += L;
                } else {
                    float sum = 0f;
                    for (int t = from; t < to; t++, base += rowWidth) sum += p[row + t] * vc[base];
                    out[outOff[r] + e] = sum;
                    e++;
                }
            }
        }
    }
}
