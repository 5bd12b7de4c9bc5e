package io.moeprune.runtime;

import io.moeprune.kernels.Exp;
import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.LaneSums;
import io.moeprune.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link CausalAttention} on the Vector API (the vector kernels' attention; only loaded where the module is present).
 *
 * <p>For a batch (prefill) the keys of each key/value head are first transposed to [dim, position], so a query's
 * scores come out a vector of positions at a time with no horizontal reductions (a per-position dot product of a
 * 64-wide head spends most of its time reducing lanes). Single rows (decode) read the cache as it is, without the
 * transpose: scores four keys at a time, values four vectors at a time.
 */
final class VectorAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** From this many query rows on, transposing the keys pays for itself. */
    private static final int TRANSPOSE_MIN_ROWS = 4;
    /** Queries of one head computed together against the transposed keys (4 queries × 2 vectors = 8 accumulators). */
    private static final int QUERIES = 4;
    /** Positions per parallel block of the key transpose (whole cache lines of each transposed row). */
    private static final int TRANSPOSE_BLOCK = 64;
    /** The fewest positions a block of decode attention may hold (blocks aim at one item per thread). */
    private static final int SPLIT_MIN_POSITIONS = 32;
    /** From this many positions on, a decode attention item serves all the query heads of a key/value head. */
    private static final int GROUPED_MIN_SPAN = 192;
    /** The per-block partial results of decode attention, kept per calling thread. */
    private static final ThreadLocal<float[]> SPLIT_PARTS = ThreadLocal.withInitial(() -> new float[0]);

    /** What {@link #readInOrder} read, kept so that its reads are not dropped. */
    static float readSink;

    private VectorAttention() {
    }

    /**
     * @param qs  queries [n, heads·headDim]
     * @param kc  cached keys, head h's position p at (h·capacity + p)·headDim ({@link KvCache})
     * @param vc  cached values, head h's position p at (h·capacity + p)·valueDim
     * @return    context [n, heads·valueDim]
     */
    static float[] attend(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads, int kvHeads,
                          int headDim, int valueDim, float scale, int window, float[] sinks) {
        if (n >= KernelSwitches.blockedAttentionMinRows()) {
            return BlockedAttention.attend(qs, kc, vc, capacity, n, startPos, heads, kvHeads, headDim, valueDim, scale,
                    window, sinks);
        }
        float[] ctx = new float[n * heads * valueDim];
        int total = startPos + n;
        int stride = (total + L - 1) / L * L;   // padded positions per transposed key row
        float[][] kt = n >= TRANSPOSE_MIN_ROWS ? transposeKeys(kc, capacity, total, stride, kvHeads, headDim) : null;
        if (kt != null) {
            attendTransposed(qs, kt, vc, capacity, n, startPos, heads, kvHeads, headDim, valueDim, scale, window,
                    stride, ctx, sinks);
            return ctx;
        }
        attendSplit(qs, kc, vc, capacity, n, startPos, heads, kvHeads, headDim, valueDim, scale, window, sinks, ctx);
        return ctx;
    }

    /**
     * Few rows (decode), split as flash decoding does, in one parallel region. From {@link #GROUPED_MIN_SPAN}
     * positions on, an item is a (row, key/value head, block of positions): it reads its block of the head's keys and
     * values once for all the query heads of the group (one item per query head read the whole cache once per head:
     * 4 MB per layer of a 16-head, 4-group model at 256 positions instead of 1) and keeps, per query head, the block's
     * largest score, its sum of exponentials and its weighted values scaled by that largest score; the blocks are then
     * merged per (row, head). Shorter contexts take one item per (row, query head), all positions in one block: on
     * the GPU machine (16 threads, 8-136 positions) grouped items took 25 % longer, four times the work per item
     * being more than the cache reads they saved (2026-11-24).
     */
    private static void attendSplit(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads,
                                    int kvHeads, int headDim, int valueDim, float scale, int window, float[] sinks,
                                    float[] ctx) {
        int group = heads / kvHeads;
        Split split = Split.of(n, startPos, heads, kvHeads, window);
        int slices = split.slices(), headsPerItem = split.headsPerItem(), blocks = split.blocks();
        int perBlock = split.perBlock();
        float[] partial = SPLIT_PARTS.get();
        int parts = n * heads * blocks, partWidth = valueDim + 2;
        if (partial.length < parts * partWidth) {
            partial = new float[parts * partWidth];
            SPLIT_PARTS.set(partial);
        }
        float[] part = partial;
        int perRow = split.perRow();
        int stride = perBlock + 4;
        Parallel.forRange(n * perRow, split.workPerItem(headDim, valueDim), (from, to) -> {
            // One score row per head of the item; grouped items whole fours of rows (weightedValuesOfQueries reads four
            // rows even when fewer are wanted).
            int rows = headsPerItem > 1 ? (headsPerItem + QUERIES - 1) / QUERIES * QUERIES : 1;
            float[] scores = new float[rows * stride];
            int[] outOff = new int[QUERIES];
            boolean fours = headsPerItem > 1 && KernelSwitches.groupedHeads();
            boolean inOrder = KernelSwitches.valuesInOrder();
            float seen = 0f;
            for (int item = from; item < to; item++) {
                int i = item / perRow, g = split.kvHead(item), b = item % blocks;
                int h0 = g * group + item / blocks % slices * headsPerItem;
                int p0 = split.firstPosition(startPos, window, item), p1 = split.endPosition(startPos, window, item);
                int len = p1 - p0;
                // Scores and softmax parts per head (head h0 + k in row k).
                for (int k = 0; k < headsPerItem; k++) {
                    int h = h0 + k, at = ((i * heads + h) * blocks + b) * partWidth;
                    if (len <= 0) {   // a row whose span is shorter than the blocks of the longest
                        part[at] = Float.NEGATIVE_INFINITY;
                        part[at + 1] = 0f;
                        continue;
                    }
                    scoresOfRow(qs, i * heads * headDim + h * headDim, kc, headDim, g * capacity * headDim, headDim,
                            p0, p1, scale, scores, p0 - k * stride);
                    float max = max(scores, k * stride, k * stride + len);
                    part[at] = max;
                    part[at + 1] = exps(scores, k * stride, k * stride + len, max);
                }
                if (len <= 0) continue;
                if (inOrder) seen += readInOrder(vc, (g * capacity + p0) * valueDim, (g * capacity + p1) * valueDim);
                if (fours) {
                    // The weighted values four heads at a time: each value vector loaded serves four heads, and the
                    // sums need no lane reductions (one head at a time read the item's values once per head: at 272
                    // positions on one AVX2 core 95 → 69 µs per call; 2026-11-24). A four-head score kernel (each key
                    // loaded once) reached 55 µs there, but its reductions in order cost twice as much on 512-bit
                    // vectors: not kept untested.
                    for (int k0 = 0; k0 < headsPerItem; k0 += QUERIES) {
                        int count = Math.min(QUERIES, headsPerItem - k0);
                        for (int r = 0; r < count; r++) outOff[r] = ((i * heads + h0 + k0 + r) * blocks + b) * partWidth + 2;
                        weightedValuesOfQueries(scores, stride, k0 * stride, k0 * stride + len, vc, valueDim,
                                (g * capacity + p0) * valueDim - k0 * stride * valueDim, valueDim, part, outOff, count);
                    }
                } else {
                    for (int k = 0; k < headsPerItem; k++) {
                        int at = ((i * heads + h0 + k) * blocks + b) * partWidth;
                        weightedValues(scores, p0, p1, vc, valueDim, g * capacity * valueDim, valueDim, part, at + 2,
                                p0 - k * stride);
                    }
                }
            }
            if (inOrder) readSink = seen;
        });
        // Merge (on the caller: a few vector adds per head): every block's values and sum rescaled to the largest
        // score of the row and head; the sink, a column with no value, only adds to the sum.
        Kernels kernels = Kernels.get();
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < heads; h++) {
                int base = (i * heads + h) * blocks * partWidth, out = (i * heads + h) * valueDim;
                float sink = sinks == null ? Float.NEGATIVE_INFINITY : sinks[h];
                float max = sink;
                for (int b = 0; b < blocks; b++) max = Math.max(max, part[base + b * partWidth]);
                float sum = sinks == null ? 0f : (float) Math.exp(sink - max);
                for (int b = 0; b < blocks; b++) {
                    int at = base + b * partWidth;
                    if (part[at + 1] != 0f) sum += part[at + 1] * (float) Math.exp(part[at] - max);
                }
                for (int b = 0; b < blocks; b++) {
                    int at = base + b * partWidth;
                    if (part[at + 1] == 0f) continue;
                    kernels.axpy((float) Math.exp(part[at] - max) / sum, part, at + 2, ctx, out, valueDim);
                }
            }
        }
    }

    /**
     * How decode attention is cut into items: per row, key/value head, slice of the group's query heads and block of
     * positions (see {@link #attendSplit}).
     */
    private record Split(int kvHeads, int slices, int headsPerItem, int blocks, int perBlock) {
        static Split of(int n, int startPos, int heads, int kvHeads, int window) {
            int group = heads / kvHeads, total = startPos + n;
            int span = window > 0 ? Math.min(window, total) : total;
            int slices = span >= GROUPED_MIN_SPAN ? 1 : group;
            int aim = Math.max(1, Parallel.threads() / KernelSwitches.attentionThreadsDivisor());
            int wanted = (aim + n * kvHeads - 1) / (n * kvHeads);
            int blocks = slices > 1 ? 1 : Math.max(1, Math.min(wanted, span / SPLIT_MIN_POSITIONS));
            return new Split(kvHeads, slices, group / slices, blocks, (span + blocks - 1) / blocks);
        }

        int perRow() {
            return kvHeads * slices * blocks;
        }

        long workPerItem(int headDim, int valueDim) {
            return 8L * perBlock * (headDim + valueDim) * headsPerItem;
        }

        int kvHead(int item) {
            return item % perRow() / (slices * blocks);
        }

        int firstPosition(int startPos, int window, int item) {
            int pos = startPos + item / perRow(), first = window > 0 ? Math.max(0, pos - window + 1) : 0;
            return Math.min(pos + 1, first + item % blocks * perBlock);
        }

        int endPosition(int startPos, int window, int item) {
            return Math.min(startPos + item / perRow() + 1, firstPosition(startPos, window, item) + perBlock);
        }
    }

    /**
     * The decode attention of the row at {@code startPos} as a coming parallel call ({@link Parallel#readAheadFor}):
     * an item reads its block of the head's cached keys and values. Declared by the q/k/v product before it, so
     * that threads out of q/k/v rows fetch their attention item's cache, which a decode step's weights evicted.
     */
    static Parallel.NextCall decodeCall(float[] kc, float[] vc, int capacity, int startPos, int heads, int kvHeads,
                                        int headDim, int valueDim, int window) {
        Split split = Split.of(1, startPos, heads, kvHeads, window);
        return new Parallel.NextCall(split.perRow(), split.workPerItem(headDim, valueDim), item -> {
            int g = split.kvHead(item);
            int p0 = split.firstPosition(startPos, window, item), p1 = split.endPosition(startPos, window, item);
            return (long) readInOrder(kc, (g * capacity + p0) * headDim, (g * capacity + p1) * headDim)
                    + (long) readInOrder(vc, (g * capacity + p0) * valueDim, (g * capacity + p1) * valueDim);
        });
    }

    /**
     * One float of each cache line of a[from, to), in order: the item's values then stream from memory at the
     * prefetchers' pace, and the weighted sums, which read each value row a few vectors at a time in several passes
     * (a stride the prefetchers follow badly), find them in cache. A decode step's weights (0.9 GB for the 1.9 B model)
     * evict the KV cache between steps, so the values do come from memory. GPU machine, 16 threads, 256 positions:
     * attention 21 % faster (2026-11-24).
     */
    private static float readInOrder(float[] a, int from, int to) {
        float sum = 0f;
        for (int e = from; e < to; e += 16) sum += a[e];
        return sum;
    }

    /**
     * A batch against transposed keys, {@link #QUERIES} consecutive queries of one head at a time: each key and value
     * vector loaded serves all of them, and their 8 accumulators hide the FMA latency that one query's 2 could not.
     * Positions a query may not see (past its own, or before its window) get probability 0, so every query of a block
     * runs over the block's union of positions and its sums are the per-query ones (adding zeros changes nothing).
     */
    private static void attendTransposed(float[] qs, float[][] kt, float[] vc, int capacity, int n, int startPos, int heads,
                                         int kvHeads, int headDim, int valueDim, float scale, int window, int stride,
                                         float[] ctx, float[] sinks) {
        int group = heads / kvHeads, total = startPos + n;
        int blocks = (n + QUERIES - 1) / QUERIES;
        Parallel.forRange(blocks * heads, 8L * QUERIES * total * headDim, (from, to) -> {
            float[] scores = new float[QUERIES * stride];
            int[] qOff = new int[QUERIES], first = new int[QUERIES], end = new int[QUERIES], out = new int[QUERIES];
            for (int task = from; task < to; task++) {
                int i0 = task / heads * QUERIES, h = task % heads, kvh = h / group;
                int lo = Integer.MAX_VALUE, hi = 0;
                for (int r = 0; r < QUERIES; r++) {
                    int i = Math.min(n - 1, i0 + r);   // a short last block repeats its last query; not written
                    int pos = startPos + i;
                    qOff[r] = i * heads * headDim + h * headDim;
                    first[r] = window > 0 ? Math.max(0, pos - window + 1) : 0;
                    end[r] = pos + 1;
                    out[r] = (i * heads + h) * valueDim;
                    lo = Math.min(lo, first[r]);
                    hi = Math.max(hi, end[r]);
                }
                lo = lo / L * L;   // whole vectors of positions: [lo, hi rounded up) lies within the padded stride
                scoresOfQueries(qs, qOff, kt[kvh], stride, headDim, lo, hi, scale, scores);
                for (int r = 0; r < QUERIES; r++) {
                    int row = r * stride;
                    softmax(scores, row + first[r], row + end[r], sinks == null ? Float.NEGATIVE_INFINITY : sinks[h]);
                    java.util.Arrays.fill(scores, row + lo, row + first[r], 0f);
                    java.util.Arrays.fill(scores, row + end[r], row + hi, 0f);
                }
                weightedValuesOfQueries(scores, stride, lo, hi, vc, valueDim, kvh * capacity * valueDim, valueDim,
                        ctx, out, Math.min(QUERIES, n - i0));
            }
        });
    }

    /** Per key/value head: keys as [headDim][stride] (position fastest), zero-padded. */
    private static float[][] transposeKeys(float[] kc, int capacity, int total, int stride, int kvHeads, int headDim) {
        float[][] kt = new float[kvHeads][headDim * stride];
        // Blocks of positions on different threads write disjoint columns of every transposed row.
        int blocks = (total + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK;
        Parallel.forRange(blocks, 8L * TRANSPOSE_BLOCK * kvHeads * headDim, (from, to) -> {
            for (int t = from * TRANSPOSE_BLOCK; t < Math.min(total, to * TRANSPOSE_BLOCK); t++) {
                for (int kvh = 0; kvh < kvHeads; kvh++) {
                    float[] dst = kt[kvh];
                    int src = (kvh * capacity + t) * headDim;
                    for (int d = 0; d < headDim; d++) dst[d * stride + t] = kc[src + d];
                }
            }
        });
        return kt;
    }

    /**
     * scores[r·stride + t] = q_r·k_t · scale for the {@link #QUERIES} queries r and t in [from, to) (from a multiple of
     * L), whole vectors of positions (the padding of the transposed keys is zero).
     */
    static void scoresOfQueries(float[] q, int[] qOff, float[] kt, int stride, int headDim, int from, int to,
                                        float scale, float[] scores) {
        int q0 = qOff[0], q1 = qOff[1], q2 = qOff[2], q3 = qOff[3];
        int t = from;
        for (; t + L < to; t += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (int d = 0, row = t; d < headDim; d++, row += stride) {
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
            for (int d = 0, row = t; d < headDim; d++, row += stride) {
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

    /**
     * In-place softmax of scores[from, to), with {@code sink} as one more column that takes its share of the
     * probability and is dropped (−∞: none).
     */
    private static void softmax(float[] s, int from, int to, float sink) {
        float max = Math.max(sink, max(s, from, to));
        float sum = (sink == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(sink - max)) + exps(s, from, to, max);
        float inv = 1f / sum;
        for (int t = from; t < to; t++) s[t] *= inv;
    }

    private static float max(float[] s, int from, int to) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t = from; t < to; t++) if (s[t] > max) max = s[t];
        return max;
    }

    /** s[t] = exp(s[t] − max) for t in [from, to), a vector at a time; returns their sum. */
    private static float exps(float[] s, int from, int to, float max) {
        float sum = 0f;
        int t = from;
        if (to - from >= L) {
            FloatVector vsum = FloatVector.zero(F);
            for (; t + L <= to; t += L) {
                FloatVector e = Exp.exp(FloatVector.fromArray(F, s, t).sub(max));
                e.intoArray(s, t);
                vsum = vsum.add(e);
            }
            sum = LaneSums.sum(vsum);   // not reduceLanes, whose order changes when C2 compiles it
        }
        for (; t < to; t++) {
            float e = Exp.exp(s[t] - max);
            s[t] = e;
            sum += e;
        }
        return sum;
    }

    /**
     * scores[t − base] = q·k_t · scale for t in [from, to), keys as rows (position t's head at kc[t·rowWidth + kOff]): four
     * positions at a time, so each query vector loaded serves four keys and four independent sums hide the FMA
     * latency (one position at a time was bound by it, and by a lane reduction per position).
     */
    private static void scoresOfRow(float[] q, int qOff, float[] kc, int rowWidth, int kOff, int dim, int from, int to,
                                    float scale, float[] scores, int base) {
        int t = from;
        int whole = dim / L * L;
        for (; t + 4 <= to; t += 4) {
            int k0 = t * rowWidth + kOff, k1 = k0 + rowWidth, k2 = k1 + rowWidth, k3 = k2 + rowWidth;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < whole; d += L) {
                FloatVector x = FloatVector.fromArray(F, q, qOff + d);
                a0 = FloatVector.fromArray(F, kc, k0 + d).fma(x, a0);
                a1 = FloatVector.fromArray(F, kc, k1 + d).fma(x, a1);
                a2 = FloatVector.fromArray(F, kc, k2 + d).fma(x, a2);
                a3 = FloatVector.fromArray(F, kc, k3 + d).fma(x, a3);
            }
            float s0 = LaneSums.sum(a0), s1 = LaneSums.sum(a1), s2 = LaneSums.sum(a2), s3 = LaneSums.sum(a3);
            for (int d = whole; d < dim; d++) {
                float x = q[qOff + d];
                s0 += x * kc[k0 + d];
                s1 += x * kc[k1 + d];
                s2 += x * kc[k2 + d];
                s3 += x * kc[k3 + d];
            }
            scores[t - base] = s0 * scale;
            scores[t - base + 1] = s1 * scale;
            scores[t - base + 2] = s2 * scale;
            scores[t - base + 3] = s3 * scale;
        }
        for (; t < to; t++) {
            int k = t * rowWidth + kOff;
            FloatVector a = FloatVector.zero(F);
            for (int d = 0; d < whole; d += L) {
                a = FloatVector.fromArray(F, kc, k + d).fma(FloatVector.fromArray(F, q, qOff + d), a);
            }
            float sum = LaneSums.sum(a);
            for (int d = whole; d < dim; d++) sum += q[qOff + d] * kc[k + d];
            scores[t - base] = sum * scale;
        }
    }

    /**
     * out[oOff..+dim) = Σ_t p[t − pBase]·v_t for t in [from, to): four vectors of the value head at a time (four independent sums, one contiguous
     * run of each value row), then what is left one vector or lane at a time.
     */
    private static void weightedValues(float[] p, int from, int to, float[] vc, int rowWidth, int vOff, int dim,
                                       float[] out, int oOff, int pBase) {
        int d = 0;
        for (; d + 4 * L <= dim; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int base = from * rowWidth + vOff + d;
            for (int t = from; t < to; t++, base += rowWidth) {
                FloatVector pt = FloatVector.broadcast(F, p[t - pBase]);
                a0 = FloatVector.fromArray(F, vc, base).fma(pt, a0);
                a1 = FloatVector.fromArray(F, vc, base + L).fma(pt, a1);
                a2 = FloatVector.fromArray(F, vc, base + 2 * L).fma(pt, a2);
                a3 = FloatVector.fromArray(F, vc, base + 3 * L).fma(pt, a3);
            }
            a0.intoArray(out, oOff + d);
            a1.intoArray(out, oOff + d + L);
            a2.intoArray(out, oOff + d + 2 * L);
            a3.intoArray(out, oOff + d + 3 * L);
        }
        for (; d + L <= dim; d += L) {
            FloatVector a0 = FloatVector.zero(F);
            int base = from * rowWidth + vOff + d;
            for (int t = from; t < to; t++, base += rowWidth) {
                a0 = FloatVector.fromArray(F, vc, base).fma(FloatVector.broadcast(F, p[t - pBase]), a0);
            }
            a0.intoArray(out, oOff + d);
        }
        for (; d < dim; d++) {
            float s = 0f;
            for (int t = from; t < to; t++) s += p[t - pBase] * vc[t * rowWidth + vOff + d];
            out[oOff + d] = s;
        }
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
