package io.moeprune.runtime;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Parallel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The attention (its vector path and its plain-loop path) against a double-precision softmax attention, on shapes
 * that reach the edges of the vector path's two layouts: batches
 * (transposed keys, four queries at a time: a short last block of queries) and one to three rows (per head, four keys
 * at a time, then four vectors of values at a time: contexts that are not whole groups of four, head widths that are
 * not whole vectors), groups of 1 to 8 heads, sliding windows, a prefix already in the cache, and gpt-oss's attention
 * sinks; on 16 threads long decode contexts are split into blocks of positions, merged afterwards, whose items take
 * a group's heads four at a time (groups of 3, 4, 6 and 8: whole fours and the rest). From 64 rows on, batches
 * attend in blocks of queries and keys ({@link BlockedAttention}): partial blocks, windows that end within a block, a
 * prefix, head widths that are not whole vectors, DeepSeek's 192/128.
 */
class CausalAttentionTest {

    @ParameterizedTest(name = "n={0} start={1} heads={2}/{3} dim={4}/{5} window={6}")
    @CsvSource({
            "7, 0, 4, 2, 16, 16, 0",
            "9, 5, 4, 4, 80, 48, 0",
            "13, 0, 2, 1, 24, 8, 3",
            "4, 30, 6, 3, 64, 64, 5",
            "37, 3, 2, 2, 40, 72, 0",
            "1, 0, 4, 1, 16, 16, 0",
            "1, 70, 16, 4, 128, 128, 0",
            "1, 33, 6, 1, 24, 8, 0",
            "2, 40, 12, 2, 64, 64, 9",
            "3, 17, 3, 3, 80, 48, 0",
            "1, 100, 9, 3, 32, 32, 0",
            "1, 50, 10, 2, 40, 72, 7",
            "1, 300, 16, 4, 128, 128, 0",
            "3, 200, 8, 2, 64, 64, 0",
            "2, 150, 8, 2, 64, 48, 40",
            "1, 500, 4, 1, 32, 32, 100",
            "1, 97, 6, 2, 24, 8, 0",
            "1, 250, 12, 2, 40, 72, 0",
            "2, 260, 3, 1, 24, 8, 0",
            "1, 400, 8, 1, 36, 20, 0",
            "1, 600, 8, 2, 64, 64, 250",
            "70, 0, 4, 2, 16, 16, 0",
            "130, 5, 4, 4, 80, 48, 0",
            "100, 30, 6, 3, 64, 64, 40",
            "67, 0, 2, 2, 192, 128, 0",
            "200, 60, 2, 1, 40, 72, 70",
    })
    void matchesDoubleReference(int n, int start, int heads, int kvHeads, int dim, int valueDim, int window) {
        Random rnd = new Random(n * 31L + dim);
        int total = start + n;
        float[] qs = gaussian(rnd, n * heads * dim);
        float[] kc = gaussian(rnd, total * kvHeads * dim);
        float[] vc = gaussian(rnd, total * kvHeads * valueDim);
        float scale = (float) (1 / Math.sqrt(dim));
        // Without sinks, and with gpt-oss's per-head sink logits (one of them large, so it takes most of the mass).
        float[] sinks = gaussian(rnd, heads);
        sinks[0] = 4f;
        // The cache as the model keeps it (per head, positions contiguous), filled in two pieces from a small capacity
        // so it grows and re-lays its heads out; the reference reads kc and vc as given ([position][head][dim]).
        KvCache cache = new KvCache(1, kvHeads, kvHeads * dim, kvHeads * valueDim, 3);
        if (start > 0) cache.put(0, kc, vc, start, 0);
        cache.put(0, java.util.Arrays.copyOfRange(kc, start * kvHeads * dim, total * kvHeads * dim),
                java.util.Arrays.copyOfRange(vc, start * kvHeads * valueDim, total * kvHeads * valueDim), n, start);
        float[] keys = cache.keys(0), values = cache.values(0);
        int capacity = cache.capacity();
        // The vector path also on 16 threads, where a decode row's context is split into blocks that are merged: aiming
        // at one item per two threads (the default) and per thread (KernelSwitches.attentionThreadsDivisor).
        int threads = Parallel.threads();
        int divisor = KernelSwitches.attentionThreadsDivisor();
        try {
            for (int[] setting : new int[][]{{threads, divisor}, {16, 2}, {16, 1}}) {
                int t = setting[0];
                Parallel.setThreads(t);
                KernelSwitches.attentionThreadsDivisor(setting[1]);
                for (float[] sink : new float[][]{null, sinks}) {
                    // "vector", the vector path with a group's heads one at a time (KernelSwitches.groupedHeads),
                    // and without reading the values in order first (KernelSwitches.valuesInOrder).
                    for (String path : new String[]{"vector", "vector, heads one at a time", "vector, values strided",
                            "scalar"}) {
                        boolean grouped = KernelSwitches.groupedHeads(!path.contains("one at a time"));
                        boolean inOrder = KernelSwitches.valuesInOrder(!path.contains("strided"));
                        try {
                            float[] ctx = !path.equals("scalar")
                                    ? VectorAttention.attend(qs, keys, values, capacity, n, start, heads, kvHeads, dim,
                                    valueDim, scale, window, sink)
                                    : CausalAttention.attendScalar(qs, keys, values, capacity, n, start, heads, kvHeads,
                                    dim, valueDim, scale, window, sink);
                            check(ctx, qs, kc, vc, n, start, heads, kvHeads, dim, valueDim, scale, window, sink,
                                    path + (sink == null ? "" : " with sinks") + ", " + t + " threads / "
                                            + setting[1]);
                        } finally {
                            KernelSwitches.groupedHeads(grouped);
                            KernelSwitches.valuesInOrder(inOrder);
                        }
                    }
                }
            }
        } finally {
            Parallel.setThreads(threads);
            KernelSwitches.attentionThreadsDivisor(divisor);
        }
    }

    private static void check(float[] ctx, float[] qs, float[] kc, float[] vc, int n, int start, int heads, int kvHeads,
                              int dim, int valueDim, float scale, int window, float[] sinks, String path) {
        int group = heads / kvHeads;
        for (int i = 0; i < n; i++) {
            int pos = start + i, first = window > 0 ? Math.max(0, pos - window + 1) : 0;
            for (int h = 0; h < heads; h++) {
                int kvh = h / group;
                double[] p = new double[pos + 1];
                double max = sinks == null ? Double.NEGATIVE_INFINITY : sinks[h], sum = 0;
                for (int t = first; t <= pos; t++) {
                    double s = 0;
                    for (int d = 0; d < dim; d++) s += (double) qs[(i * heads + h) * dim + d] * kc[(t * kvHeads + kvh) * dim + d];
                    p[t] = s * scale;
                    max = Math.max(max, p[t]);
                }
                if (sinks != null) sum += Math.exp(sinks[h] - max);
                for (int t = first; t <= pos; t++) sum += p[t] = Math.exp(p[t] - max);
                for (int e = 0; e < valueDim; e++) {
                    double o = 0;
                    for (int t = first; t <= pos; t++) o += p[t] / sum * vc[(t * kvHeads + kvh) * valueDim + e];
                    assertEquals(o, ctx[(i * heads + h) * valueDim + e], 1e-5,
                            path + ": query " + i + " head " + h + " value " + e);
                }
            }
        }
    }

    private static float[] gaussian(Random rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
