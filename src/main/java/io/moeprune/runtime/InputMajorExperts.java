package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

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
        // Per active expert: its tokens' gate/up outputs [c, 2I], activations [c, I] and outputs [c, H].
        float[][] gu = new float[activeCount][], act = new float[activeCount][], y = new float[activeCount][];
        for (int a = 0; a < activeCount; a++) {
            int e = active[a], c = start[e + 1] - start[e];
            gu[a] = new float[c * wide];
            act[a] = new float[c * intermediate];
            y[a] = new float[c * hidden];
        }
        // Gate/up: token j's input is xn's row of its slot's token.
        float[][] tokensIn = new float[activeCount][];
        java.util.Arrays.fill(tokensIn, xn);
        projectAll(kernels, gateUp, gateUpBias, active, activeCount, start, tokensIn,
                (a, j) -> order[start[active[a]] + j] / k * hidden, gu);
        Parallel.forRange(activeCount, (long) n * k / Math.max(1, activeCount) * intermediate * 16, (from, to) -> {
            for (int a = from; a < to; a++) {
                float[] g = gu[a], out = act[a];
                for (int j = 0; j < out.length; j++) {
                    float gate = Math.min(g[2 * j], limit), up = Math.max(-limit, Math.min(limit, g[2 * j + 1]));
                    out[j] = (up + 1f) * (gate / (1f + (float) Math.exp(-alpha * gate)));
                }
            }
        });
        projectAll(kernels, down, downBias, active, activeCount, start, act, (a, j) -> j * intermediate, y);
        // Each token's experts added in ascending id, as transformers adds them (and a pruned checkpoint, renumbered in
        // order); each thread takes its own tokens.
        Parallel.forRange(n, 4L * k * hidden, (from, to) -> {
            java.util.Arrays.fill(routed, from * hidden, to * hidden, 0f);
            for (int a = 0; a < activeCount; a++) {
                int e = active[a];
                for (int j = start[e]; j < start[e + 1]; j++) {
                    int slot = order[j], t = slot / k;
                    if (t < from || t >= to) continue;
                    int src = (j - start[e]) * hidden;
                    kernels.axpy(weights[slot], y[a], src, routed, t * hidden, hidden);
                    if (expertOut != null) System.arraycopy(y[a], src, expertOut, slot * hidden, hidden);
                }
            }
        });
    }

    /**
     * outs[a][j·out + c] = bias[e·out + c] + Σ_r in_j[r] · W_e[r, c] for every active expert a (id e) and its tokens j,
     * where in_j starts at inputs[a][offsets(a, j)] and W_e is input-major [in, out]: units of (expert, block of output columns) spread over the threads, each decoding a
     * stored row's block once and adding it, times each token's input, into the tokens' outputs.
     */
    private static void projectAll(Kernels kernels, Weights[] ws, float[] bias, int[] active, int activeCount,
                                   int[] start, float[][] inputs, java.util.function.IntBinaryOperator offsets,
                                   float[][] outs) {
        int in = ws[0].rows(), out = ws[0].cols(), blocks = (out + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        boolean oneTokenEach = true;
        for (int a = 0; a < activeCount && oneTokenEach; a++) oneTokenEach = start[active[a] + 1] - start[active[a]] == 1;
        if (oneTokenEach) {
            projectOneToken(kernels, ws, bias, active, activeCount, inputs, offsets, outs);
            return;
        }
        Parallel.forRange(activeCount * blocks, (long) in * COLUMN_BLOCK * ws[0].dtype().byteSize(), (from, to) -> {
            float[] row = new float[COLUMN_BLOCK];
            for (int u = from; u < to; u++) {
                int a = u / blocks, e = active[a], c0 = (u % blocks) * COLUMN_BLOCK, c1 = Math.min(out, c0 + COLUMN_BLOCK);
                int tokens = start[e + 1] - start[e], width = c1 - c0;
                float[] y = outs[a];
                float[] x = inputs[a];
                int[] xOff = new int[tokens];
                for (int j = 0; j < tokens; j++) {
                    xOff[j] = offsets.applyAsInt(a, j);
                    System.arraycopy(bias, e * out + c0, y, j * out + c0, width);
                }
                Weights w = ws[e];
                for (int r = 0; r < in; r++) {
                    kernels.decodeRow(w, r, c0, c1, row, 0);
                    for (int j = 0; j < tokens; j++) kernels.axpy(x[xOff[j] + r], row, 0, y, j * out + c0, width);
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
                                        float[][] inputs, java.util.function.IntBinaryOperator offsets,
                                        float[][] outs) {
        int in = ws[0].rows(), out = ws[0].cols();
        int blocks = Math.max(1, Math.min(in, (Parallel.threads() * 4 + activeCount - 1) / activeCount));
        int rowsPerBlock = (in + blocks - 1) / blocks;
        blocks = (in + rowsPerBlock - 1) / rowsPerBlock;
        int blockCount = blocks;
        float[][] partial = new float[activeCount * blockCount][];
        Parallel.forRange(activeCount * blockCount, (long) rowsPerBlock * out * ws[0].dtype().byteSize(), (from, to) -> {
            for (int u = from; u < to; u++) {
                int a = u / blockCount, r0 = (u % blockCount) * rowsPerBlock, r1 = Math.min(in, r0 + rowsPerBlock);
                float[] x = inputs[a], y = new float[out];
                int xOff = offsets.applyAsInt(a, 0);
                Weights w = ws[active[a]];
                for (int r = r0; r < r1; r++) kernels.rowAxpy(w, r, x[xOff + r], y, 0);
                partial[u] = y;
            }
        });
        for (int a = 0; a < activeCount; a++) {
            float[] y = outs[a];
            System.arraycopy(bias, active[a] * out, y, 0, out);
            for (int b = 0; b < blockCount; b++) kernels.add(partial[a * blockCount + b], 0, y, 0, out);
        }
    }
}
