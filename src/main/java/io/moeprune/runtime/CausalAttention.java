package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

/**
 * Causal softmax attention of a batch of query rows against the cached keys/values (eager attention as
 * transformers computes it: scores·scale, softmax in F32, weighted sum of values). Query head h reads key/value
 * head h / (heads / kvHeads). Shared by every attention kind that caches plain keys and values.
 */
final class CausalAttention {
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
        Kernels kernels = Kernels.get();
        int group = heads / kvHeads;
        // One item per (token, head); its work is about its context length × head width (in floats × 4 bytes).
        Parallel.forRange(n * heads, 8L * (startPos + n) * headDim, (from, to) -> {
            for (int task = from; task < to; task++) {
                int i = task / heads, h = task % heads;
                int pos = startPos + i;
                int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
                int kvh = h / group;
                int qOff = i * heads * headDim + h * headDim;
                float[] scores = new float[pos - first + 1];
                float max = Float.NEGATIVE_INFINITY;
                for (int t = first; t <= pos; t++) {
                    float s = kernels.dot(qs, qOff, kc, (t * kvHeads + kvh) * headDim, headDim) * scale;
                    scores[t - first] = s;
                    if (s > max) max = s;
                }
                float sum = 0f;
                for (int j = 0; j < scores.length; j++) {
                    float e = (float) Math.exp(scores[j] - max);
                    scores[j] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                int cOff = (i * heads + h) * valueDim;
                for (int t = first; t <= pos; t++) {
                    kernels.axpy(scores[t - first] * inv, vc, (t * kvHeads + kvh) * valueDim, ctx, cOff, valueDim);
                }
            }
        });
        return ctx;
    }
}
