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
    void run(float[] xn, int n, int k, int[] start, int[] order, float[] weights, float[] routed, float[] expertOut) {
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
        long bytes = gateUp[0].dtype().byteSize();
        int guBlocks = (wide + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        Parallel.forRange(activeCount * guBlocks, (long) hidden * COLUMN_BLOCK * bytes, (from, to) -> {
            float[] row = new float[COLUMN_BLOCK];
            for (int u = from; u < to; u++) {
                int a = u / guBlocks, e = active[a], c0 = (u % guBlocks) * COLUMN_BLOCK, c1 = Math.min(wide, c0 + COLUMN_BLOCK);
                int tokens = start[e + 1] - start[e];
                products(kernels, gateUp[e], c0, c1, gateUpBias, e * wide, xn, hidden, order, start[e], tokens, k,
                        row, gu[a], wide);
            }
        });
        Parallel.forRange(activeCount, (long) n * k / Math.max(1, activeCount) * intermediate * 16, (from, to) -> {
            for (int a = from; a < to; a++) {
                float[] g = gu[a], out = act[a];
                for (int j = 0; j < out.length; j++) {
                    float gate = Math.min(g[2 * j], limit), up = Math.max(-limit, Math.min(limit, g[2 * j + 1]));
                    out[j] = (up + 1f) * (gate / (1f + (float) Math.exp(-alpha * gate)));
                }
            }
        });
        int downBlocks = (hidden + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        Parallel.forRange(activeCount * downBlocks, (long) intermediate * COLUMN_BLOCK * bytes, (from, to) -> {
            float[] row = new float[COLUMN_BLOCK];
            for (int u = from; u < to; u++) {
                int a = u / downBlocks, e = active[a], c0 = (u % downBlocks) * COLUMN_BLOCK, c1 = Math.min(hidden, c0 + COLUMN_BLOCK);
                int tokens = start[e + 1] - start[e];
                products(kernels, down[e], c0, c1, downBias, e * hidden, act[a], intermediate, null, 0, tokens, 0,
                        row, y[a], hidden);
            }
        });
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
     * Columns [c0, c1) of out[j·outWidth + c] = bias[bOff + c] + Σ_r in_j[r] · W[r, c] for the expert's tokens j, W
     * input-major [in, out]. Token j's input row: with {@code order}, xn's row of token order[first + j] / k (the
     * gathered slots); without, in's row j.
     */
    private static void products(Kernels kernels, Weights w, int c0, int c1, float[] bias, int bOff, float[] in,
                                 int inWidth, int[] order, int first, int tokens, int k, float[] row, float[] out,
                                 int outWidth) {
        int width = c1 - c0;
        int[] inRow = new int[tokens];
        for (int j = 0; j < tokens; j++) {
            inRow[j] = (order == null ? j : order[first + j] / k) * inWidth;
            System.arraycopy(bias, bOff + c0, out, j * outWidth + c0, width);
        }
        for (int r = 0; r < w.rows(); r++) {
            w.readRow(r, c0, c1, row, 0);
            for (int j = 0; j < tokens; j++) kernels.axpy(in[inRow[j] + r], row, 0, out, j * outWidth + c0, width);
        }
    }
}
