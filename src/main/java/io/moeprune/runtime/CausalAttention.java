package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal softmax attention of a batch of query rows against the cached keys/values (eager attention as
 * transformers computes it: scores·scale, softmax in F32, weighted sum of values). Query head h reads key/value
 * head h / (heads / kvHeads). Shared by every attention kind that caches plain keys and values.
 *
 * <p>For a batch (prefill) the keys of each key/value head are first transposed to [dim, position], so a query's
 * scores come out a vector of positions at a time with no horizontal reductions (a per-position dot product of a
 * 64-wide head spends most of its time reducing lanes). Single rows (decode) use per-position dot products, which
 * read the cache once without the transpose.
 */
final class CausalAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** From this many query rows on, transposing the keys pays for itself. */
    private static final int TRANSPOSE_MIN_ROWS = 4;
    /** Positions per parallel block of the key transpose (whole cache lines of each transposed row). */
    private static final int TRANSPOSE_BLOCK = 64;

    private CausalAttention() {
    }

    /**
     * @param qs  queries [n, heads·headDim]
     * @param kc  cached keys, position p at p·kvHeads·headDim
     * @param vc  cached values, position p at p·kvHeads·valueDim
     * @return    context [n, heads·valueDim]
     */
    static float[] attend(float[] qs, float[] kc, float[] vc, int n, int startPos, int heads, int kvHeads, int headDim,
                          int valueDim, float scale, int window) {
        float[] ctx = new float[n * heads * valueDim];
        int group = heads / kvHeads;
        int total = startPos + n;
        int stride = (total + L - 1) / L * L;   // padded positions per transposed key row
        float[][] kt = n >= TRANSPOSE_MIN_ROWS ? transposeKeys(kc, total, stride, kvHeads, headDim) : null;
        Kernels kernels = kt == null ? Kernels.get() : null;
        // One item per (token, head); its work is about its context length × head width (in floats × 4 bytes).
        Parallel.forRange(n * heads, 8L * total * headDim, (from, to) -> {
            float[] scores = new float[stride];
            for (int task = from; task < to; task++) {
                int i = task / heads, h = task % heads;
                int pos = startPos + i;
                int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
                int kvh = h / group;
                int qOff = i * heads * headDim + h * headDim;
                if (kt != null) {
                    scoresTransposed(qs, qOff, kt[kvh], stride, headDim, first, pos + 1, scale, scores);
                } else {
                    for (int t = first; t <= pos; t++) {
                        scores[t] = kernels.dot(qs, qOff, kc, (t * kvHeads + kvh) * headDim, headDim) * scale;
                    }
                }
                softmax(scores, first, pos + 1);
                weightedValues(scores, first, pos + 1, vc, kvHeads * valueDim, kvh * valueDim, valueDim, ctx,
                        (i * heads + h) * valueDim);
            }
        });
        return ctx;
    }

    /** Per key/value head: keys as [headDim][stride] (position fastest), zero-padded. */
    private static float[][] transposeKeys(float[] kc, int total, int stride, int kvHeads, int headDim) {
        float[][] kt = new float[kvHeads][headDim * stride];
        int width = kvHeads * headDim;
        // Blocks of positions on different threads write disjoint columns of every transposed row.
        int blocks = (total + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK;
        Parallel.forRange(blocks, 8L * TRANSPOSE_BLOCK * width, (from, to) -> {
            for (int t = from * TRANSPOSE_BLOCK; t < Math.min(total, to * TRANSPOSE_BLOCK); t++) {
                int base = t * width;
                for (int kvh = 0; kvh < kvHeads; kvh++) {
                    float[] dst = kt[kvh];
                    int src = base + kvh * headDim;
                    for (int d = 0; d < headDim; d++) dst[d * stride + t] = kc[src + d];
                }
            }
        });
        return kt;
    }

    /** scores[t] = q·k_t · scale for t in [from, to), a vector of positions at a time, two vectors in flight. */
    private static void scoresTransposed(float[] q, int qOff, float[] kt, int stride, int headDim, int from, int to,
                                         float scale, float[] scores) {
        int t = from;
        for (; t + 2 * L <= to; t += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            for (int d = 0; d < headDim; d++) {
                FloatVector qd = FloatVector.broadcast(F, q[qOff + d]);
                int row = d * stride + t;
                a0 = FloatVector.fromArray(F, kt, row).fma(qd, a0);
                a1 = FloatVector.fromArray(F, kt, row + L).fma(qd, a1);
            }
            a0.mul(scale).intoArray(scores, t);
            a1.mul(scale).intoArray(scores, t + L);
        }
        for (; t + L <= to; t += L) {
            FloatVector a0 = FloatVector.zero(F);
            for (int d = 0; d < headDim; d++) {
                a0 = FloatVector.fromArray(F, kt, d * stride + t).fma(FloatVector.broadcast(F, q[qOff + d]), a0);
            }
            a0.mul(scale).intoArray(scores, t);
        }
        // The last block may run into the padding (zeros) or later positions; only [t, to) is kept.
        if (t < to) {
            FloatVector a0 = FloatVector.zero(F);
            boolean fits = t + L <= stride;
            if (fits) {
                for (int d = 0; d < headDim; d++) {
                    a0 = FloatVector.fromArray(F, kt, d * stride + t).fma(FloatVector.broadcast(F, q[qOff + d]), a0);
                }
                float[] tmp = new float[L];
                a0.mul(scale).intoArray(tmp, 0);
                System.arraycopy(tmp, 0, scores, t, to - t);
            } else {
                for (; t < to; t++) {
                    float s = 0f;
                    for (int d = 0; d < headDim; d++) s += q[qOff + d] * kt[d * stride + t];
                    scores[t] = s * scale;
                }
            }
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

    /** out[oOff..+dim) = Σ_t p[t]·v_t, accumulated in registers one vector of the value head at a time. */
    private static void weightedValues(float[] p, int from, int to, float[] vc, int rowWidth, int vOff, int dim,
                                       float[] out, int oOff) {
        int d = 0;
        for (; d + 2 * L <= dim; d += 2 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            int base = from * rowWidth + vOff + d;
            for (int t = from; t < to; t++, base += rowWidth) {
                FloatVector pt = FloatVector.broadcast(F, p[t]);
                a0 = FloatVector.fromArray(F, vc, base).fma(pt, a0);
                a1 = FloatVector.fromArray(F, vc, base + L).fma(pt, a1);
            }
            a0.intoArray(out, oOff + d);
            a1.intoArray(out, oOff + d + L);
        }
        for (; d + L <= dim; d += L) {
            FloatVector a0 = FloatVector.zero(F);
            int base = from * rowWidth + vOff + d;
            for (int t = from; t < to; t++, base += rowWidth) {
                a0 = FloatVector.fromArray(F, vc, base).fma(FloatVector.broadcast(F, p[t]), a0);
            }
            a0.intoArray(out, oOff + d);
        }
        for (; d < dim; d++) {
            float s = 0f;
            for (int t = from; t < to; t++) s += p[t] * vc[t * rowWidth + vOff + d];
            out[oOff + d] = s;
        }
    }
}
