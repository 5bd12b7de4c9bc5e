package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

import java.util.Arrays;
import java.util.function.IntBinaryOperator;

/**
 * gpt-oss experts: 3-D tensors stored input-major, gate_up_proj [E, hidden, 2·inter] with gate and up interleaved
 * (columns 2j and 2j + 1) and down_proj [E, inter, hidden], each with a bias, and the clamped SwiGLU of gpt-oss:
 * gate ≤ limit, up in [−limit, limit], out = (up + 1) · gate · σ(alpha · gate).
 *
 * <p>Each active expert's tokens are taken together: units of (expert, block of output columns) decode each stored
 * row's block once and add it, times each token's input, into that token's outputs (an axpy per token: no lane
 * reductions, and the weights are read once per batch). Not yet tuned further (no AMX, no packed panels).
 */
public record InputMajorExperts(Weights[] gateUp, float[] gateUpBias, Weights[] down, float[] downBias, int hidden,
                                int intermediate, float alpha, float limit) implements ExpertWeights {

    @Override
    public int count() {
        return gateUp.length;
    }

    /** Not available: these experts are not three output-major matrices ({@link #run} computes them). */
    @Override
    public SwiGlu expert(int e) {
        throw new UnsupportedOperationException("gpt-oss experts are stored input-major and fused");
    }

    @Override
    public long expertBytes() {
        return gateUp[0].byteSize() + down[0].byteSize();
    }

    /** Output columns per work unit: a decoded row block of this many floats stays in L1 with the tokens' rows. */
    private static final int COLUMN_BLOCK = 256;

    /** The contract of {@link ExpertDispatch#run}: routed outputs, and each slot's unweighted output when asked. */
    public void run(float[] xn, int n, int k, int[] start, int[] order, float[] weights, float[] routed,
                    float[] expertOut) {
        Kernels kernels = Kernels.get();
        int numExperts = count(), wide = 2 * intermediate;
        int[] active = new int[numExperts];
        int count = 0;
        for (int e = 0; e < numExperts; e++) if (start[e + 1] > start[e]) active[count++] = e;
        int activeCount = count;
        // Per active expert: its tokens' gate/up outputs [c, 2I] and activations [c, I]; outputs go to their slots.
        float[][] gu = new float[activeCount][], act = new float[activeCount][];
        for (int a = 0; a < activeCount; a++) {
            int c = start[active[a] + 1] - start[active[a]];
            gu[a] = new float[c * wide];
            act[a] = new float[c * intermediate];
        }
        IntBinaryOperator slotOf = (a, j) -> order[start[active[a]] + j];
        float[][] tokensIn = new float[activeCount][];
        Arrays.fill(tokensIn, xn);
        projectAll(kernels, gateUp, gateUpBias, active, activeCount, start,
                new TokenRows(tokensIn, (a, j) -> slotOf.applyAsInt(a, j) / k * hidden),
                new TokenRows(gu, (a, j) -> j * wide));
        Parallel.forRange(activeCount, (long) n * k / Math.max(1, activeCount) * intermediate * 16, (from, to) -> {
            for (int a = from; a < to; a++) {
                float[] g = gu[a], out = act[a];
                for (int j = 0; j < out.length; j++) {
                    float gate = Math.min(g[2 * j], limit), up = Math.max(-limit, Math.min(limit, g[2 * j + 1]));
                    out[j] = (up + 1f) * (gate / (1f + (float) Math.exp(-alpha * gate)));
                }
            }
        });
        float[] slotsOut = expertOut != null ? expertOut : new float[n * k * hidden];
        float[][] slotRows = new float[activeCount][];
        Arrays.fill(slotRows, slotsOut);
        projectAll(kernels, down, downBias, active, activeCount, start, new TokenRows(act, (a, j) -> j * intermediate),
                new TokenRows(slotRows, (a, j) -> slotOf.applyAsInt(a, j) * hidden));
        ExpertDispatch.addSlots(n, k, hidden, activeCount, active, start, order, weights, slotsOut, routed);
    }

    /** Where token j of active expert a has its row: arrays[a] from at(a, j). */
    private record TokenRows(float[][] arrays, IntBinaryOperator offsets) {
        int at(int a, int j) {
            return offsets.applyAsInt(a, j);
        }
    }

    /**
     * out_j[c] = bias[e·out + c] + Σ_r in_j[r] · W_e[r, c] for every active expert a (id e) and its tokens j (rows
     * given by {@code inputs} and {@code outputs}), W_e input-major [in, out]: units of (expert, block of output columns) spread over the threads, each decoding a
     * stored row's block once and adding it, times each token's input, into the tokens' outputs.
     */
    private static void projectAll(Kernels kernels, Weights[] ws, float[] bias, int[] active, int activeCount,
                                   int[] start, TokenRows inputs, TokenRows outputs) {
        int in = ws[0].rows(), out = ws[0].cols(), blocks = (out + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        boolean oneTokenEach = true;
        for (int a = 0; a < activeCount && oneTokenEach; a++) oneTokenEach = start[active[a] + 1] - start[active[a]] == 1;
        if (oneTokenEach) {
            projectOneToken(kernels, ws, bias, active, activeCount, inputs, outputs);
            return;
        }
        Parallel.forRange(activeCount * blocks, (long) in * COLUMN_BLOCK * ws[0].dtype().byteSize(), (from, to) -> {
            float[] row = new float[COLUMN_BLOCK];
            for (int u = from; u < to; u++) {
                int a = u / blocks, e = active[a], c0 = (u % blocks) * COLUMN_BLOCK, c1 = Math.min(out, c0 + COLUMN_BLOCK);
                int tokens = start[e + 1] - start[e], width = c1 - c0;
                float[] x = inputs.arrays()[a], y = outputs.arrays()[a];
                int[] xOff = new int[tokens], yOff = new int[tokens];
                for (int j = 0; j < tokens; j++) {
                    xOff[j] = inputs.at(a, j);
                    yOff[j] = outputs.at(a, j) + c0;
                    System.arraycopy(bias, e * out + c0, y, yOff[j], width);
                }
                Weights w = ws[e];
                for (int r = 0; r < in; r++) {
                    kernels.decodeRow(w, r, c0, c1, row, 0);
                    for (int j = 0; j < tokens; j++) kernels.axpy(x[xOff[j] + r], row, 0, y, yOff[j], width);
                }
            }
        });
    }

    /**
     * {@link #projectAll} when every active expert has one token (a decode step): units of (expert, block of stored
     * rows) stream whole rows (column blocks would read a piece of every row, strided) into a partial output each,
     * and the partials are then added per expert, in row-block order.
     */
    private static void projectOneToken(Kernels kernels, Weights[] ws, float[] bias, int[] active, int activeCount,
                                        TokenRows inputs, TokenRows outputs) {
        int in = ws[0].rows(), out = ws[0].cols();
        int blocks = Math.max(1, Math.min(in, (Parallel.threads() * 4 + activeCount - 1) / activeCount));
        int rowsPerBlock = (in + blocks - 1) / blocks;
        blocks = (in + rowsPerBlock - 1) / rowsPerBlock;
        int blockCount = blocks;
        float[][] partial = new float[activeCount * blockCount][];
        Parallel.forRange(activeCount * blockCount, (long) rowsPerBlock * out * ws[0].dtype().byteSize(), (from, to) -> {
            for (int u = from; u < to; u++) {
                int a = u / blockCount, r0 = (u % blockCount) * rowsPerBlock, r1 = Math.min(in, r0 + rowsPerBlock);
                float[] x = inputs.arrays()[a], y = new float[out];
                int xOff = inputs.at(a, 0);
                Weights w = ws[active[a]];
                for (int r = r0; r < r1; r++) kernels.rowAxpy(w, r, x[xOff + r], y, 0);
                partial[u] = y;
            }
        });
        for (int a = 0; a < activeCount; a++) {
            float[] y = outputs.arrays()[a];
            int yOff = outputs.at(a, 0);
            System.arraycopy(bias, active[a] * out, y, yOff, out);
            for (int b = 0; b < blockCount; b++) kernels.add(partial[a * blockCount + b], 0, y, yOff, out);
        }
    }
}
