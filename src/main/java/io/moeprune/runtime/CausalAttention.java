package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

/**
 * Causal softmax attention of a batch of query rows against the cached keys/values (eager attention as
 * transformers computes it: scores·scale, softmax in F32, weighted sum of values). Query head h reads key/value
 * head h / (heads / kvHeads). Shared by every attention kind that caches plain keys and values.
 *
 * <p>It follows the kernel selection ({@code -Dmoeprune.kernels}): {@link VectorAttention} with the vector kernels,
 * else the plain loops here, which are also the reference its tests compare against. Public for the benchmarks
 * (PrefillAttentionBench).
 */
public final class CausalAttention {

    private CausalAttention() {
    }

    /**
     * @param qs  queries [n, heads·headDim]
     * @param kc  cached keys, head h's position p at (h·capacity + p)·headDim ({@link KvCache})
     * @param vc  cached values, head h's position p at (h·capacity + p)·valueDim
     * @param sinks per query head, a logit that joins the softmax as one more column and is then dropped (gpt-oss's
     *              attention sinks), or null
     * @return    context [n, heads·valueDim]
     */
    public static float[] attend(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads,
                          int kvHeads, int headDim, int valueDim, float scale, int window, float[] sinks) {
        if (Kernels.get().vectorized()) {
            return VectorAttention.attend(qs, kc, vc, capacity, n, startPos, heads, kvHeads, headDim, valueDim, scale,
                    window, sinks);
        }
        return attendScalar(qs, kc, vc, capacity, n, startPos, heads, kvHeads, headDim, valueDim, scale, window, sinks);
    }

    /**
     * The decode attention of the row at {@code startPos} as a coming parallel call, for idle threads to read ahead
     * ({@link Parallel#readAheadFor}); null with the plain loops.
     */
    static Parallel.NextCall decodeCall(float[] kc, float[] vc, int capacity, int startPos, int heads, int kvHeads,
                                        int headDim, int valueDim, int window) {
        if (!Kernels.get().vectorized()) return null;
        return VectorAttention.decodeCall(kc, vc, capacity, startPos, heads, kvHeads, headDim, valueDim, window);
    }

    /** The same in plain loops: one item per (row, head). */
    static float[] attendScalar(float[] qs, float[] kc, float[] vc, int capacity, int n, int startPos, int heads,
                                int kvHeads, int headDim, int valueDim, float scale, int window, float[] sinks) {
        float[] ctx = new float[n * heads * valueDim];
        int group = heads / kvHeads, total = startPos + n;
        Parallel.forRange(n * heads, 8L * total * headDim, (from, to) -> {
            float[] p = new float[total];
            for (int task = from; task < to; task++) {
                int i = task / heads, h = task % heads, kvh = h / group, pos = startPos + i;
                int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
                int qOff = i * heads * headDim + h * headDim, out = (i * heads + h) * valueDim;
                float sink = sinks == null ? Float.NEGATIVE_INFINITY : sinks[h];
                float max = sink;
                for (int t = first; t <= pos; t++) {
                    int k = (kvh * capacity + t) * headDim;
                    float s = 0f;
                    for (int d = 0; d < headDim; d++) s += qs[qOff + d] * kc[k + d];
                    p[t] = s * scale;
                    max = Math.max(max, p[t]);
                }
                float sum = sinks == null ? 0f : (float) Math.exp(sink - max);
                for (int t = first; t <= pos; t++) {
                    p[t] = (float) Math.exp(p[t] - max);
                    sum += p[t];
                }
                float inv = 1f / sum;
                for (int t = first; t <= pos; t++) {
                    float w = p[t] * inv;
                    int v = (kvh * capacity + t) * valueDim;
                    for (int e = 0; e < valueDim; e++) ctx[out + e] += w * vc[v + e];
                }
            }
        });
        return ctx;
    }
}
