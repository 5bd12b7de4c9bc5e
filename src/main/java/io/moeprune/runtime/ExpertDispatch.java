package io.moeprune.runtime;

import io.moeprune.kernels.Batches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

/**
 * Runs the chosen experts of one MoE block over a batch whose (token, slot) pairs are grouped by expert, as
 * work units spread over all threads:
 * <ol>
 *   <li>each expert's tokens are gathered into the transposed layout of {@link Kernels#matMulT} (a single token
 *       is already in it);</li>
 *   <li>units of (expert, block of intermediate rows) compute silu(gate·x) ⊙ up·x for those rows;</li>
 *   <li>units of (expert, block of hidden rows) compute down·act for those rows and write them into every slot's
 *       unweighted output.</li>
 * </ol>
 * Splitting experts into row blocks is what lets a decode step's few experts (8 of 64, say) keep 16 threads busy;
 * with many active experts (prefill) a unit is a whole expert, so its weights are read and decoded once per batch.
 */
final class ExpertDispatch {
    /** Work units per thread to aim for: enough for the dynamic chunks of {@link Parallel} to even out. */
    private static final int UNITS_PER_THREAD = 8;
    /** Row blocks are multiples of this (the register tiles' row count). */
    private static final int ROW_ALIGN = 8;

    private ExpertDispatch() {
    }

    /**
     * expertOut[slot·hidden, +hidden) = the unweighted output of expert ids[slot] on token slot / k, for every
     * slot; {@code order[start[e]..start[e+1])} lists expert e's slots in token order.
     */
    static void run(ExpertWeights experts, float[] xn, int n, int k, int hidden, int[] start, int[] order,
                    float[] expertOut) {
        Kernels kernels = Kernels.get();
        int numExperts = experts.count();
        int[] active = new int[numExperts];
        int activeCount = 0;
        for (int e = 0; e < numExperts; e++) if (start[e + 1] > start[e]) active[activeCount++] = e;
        if (activeCount == 0) return;
        int count = activeCount;
        int inter = experts.expert(active[0]).intermediate();

        int[] stride = new int[count];
        float[][] xT = new float[count][];
        float[][] act = new float[count][];
        for (int a = 0; a < count; a++) {
            int c = start[active[a] + 1] - start[active[a]];
            stride[a] = kernels.batchStride(c);
            act[a] = new float[inter * stride[a]];
            if (n == 1) xT[a] = xn;  // one token: stride 1, the row itself
        }
        if (n > 1) {
            Parallel.forRange(count, 4L * hidden * n * k / count, (from, to) -> {
                for (int a = from; a < to; a++) {
                    int e = active[a], c = start[e + 1] - start[e], s = stride[a];
                    float[] t = new float[hidden * s];
                    int[] rowStarts = new int[c];
                    for (int j = 0; j < c; j++) rowStarts[j] = (order[start[e] + j] / k) * hidden;
                    Batches.gather(xn, rowStarts, 0, hidden, t, s);
                    xT[a] = t;
                }
            });
        }

        int blocks = Math.max(1, (Parallel.threads() * UNITS_PER_THREAD + count - 1) / count);
        int rowsA = rowBlock(inter, blocks), rowsB = rowBlock(hidden, blocks);
        int blocksA = (inter + rowsA - 1) / rowsA, blocksB = (hidden + rowsB - 1) / rowsB;
        long bytesPerExpert = experts.expertBytes();
        // Work per unit in weight bytes × tokens. A single token's experts (decode) are a short burst, often from
        // cache: counting a quarter of their bytes keeps small experts (the 29M test model's 200 KB) on the
        // caller, while a 1.9B model's 3 MB experts still spread over all threads.
        long tokensPerExpert = Math.max(1, (long) n * k / count);
        long perExpert = n == 1 ? Math.max(1, bytesPerExpert / 4) : bytesPerExpert * tokensPerExpert;

        Parallel.forRange(count * blocksA, Math.max(1, perExpert * 2 / 3 / blocksA), (from, to) -> {
            float[] g = new float[0], u = new float[0];
            for (int unit = from; unit < to; unit++) {
                int a = unit / blocksA, r0 = (unit % blocksA) * rowsA, r1 = Math.min(inter, r0 + rowsA);
                int e = active[a], c = start[e + 1] - start[e], s = stride[a], len = (r1 - r0) * s;
                if (g.length < len) {
                    g = new float[len];
                    u = new float[len];
                }
                SwiGlu expert = experts.expert(e);
                kernels.matMulT(expert.gate(), r0, r1, xT[a], c, s, g, 0);
                kernels.matMulT(expert.up(), r0, r1, xT[a], c, s, u, 0);
                kernels.siluMul(g, 0, u, 0, act[a], r0 * s, len);
            }
        });
        Parallel.forRange(count * blocksB, Math.max(1, perExpert / 3 / blocksB), (from, to) -> {
            float[] y = new float[0];
            for (int unit = from; unit < to; unit++) {
                int a = unit / blocksB, o0 = (unit % blocksB) * rowsB, o1 = Math.min(hidden, o0 + rowsB);
                int e = active[a], c = start[e + 1] - start[e], s = stride[a];
                if (y.length < (o1 - o0) * s) y = new float[(o1 - o0) * s];
                kernels.matMulT(experts.expert(e).down(), o0, o1, act[a], c, s, y, 0);
                for (int j = 0; j < c; j++) {
                    int dst = order[start[e] + j] * hidden;
                    for (int o = o0; o < o1; o++) expertOut[dst + o] = y[(o - o0) * s + j];
                }
            }
        });
    }

    /** Rows per block when {@code rows} are cut into about {@code blocks} blocks, rounded up to whole tiles. */
    private static int rowBlock(int rows, int blocks) {
        int r = (rows + blocks - 1) / blocks;
        r = (r + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
        return Math.max(1, Math.min(rows, r));
    }
}
