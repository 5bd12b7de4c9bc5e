package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A gpt-oss expert projection stored input-major in BF16 (or F32/F16): ws[e] is expert e's [in, out] matrix, a slice
 * of the checkpoint's [E, in, out] tensor. Each active expert's tokens are taken together: units of (expert, block of
 * output columns) decode each stored row's block once and add it, times each token's input, into that token's
 * outputs (an axpy per token: no lane reductions, and the weights are read once per batch). Not yet tuned further
 * (no AMX, no packed panels).
 */
record InputMajorProjection(Weights[] ws) implements ExpertProjection {
    /** Output columns per work unit: a decoded row block of this many floats stays in L1 with the tokens' rows. */
    private static final int COLUMN_BLOCK = 256;

    @Override
    public int in() {
        return ws[0].rows();
    }

    @Override
    public int out() {
        return ws[0].cols();
    }

    @Override
    public long expertBytes() {
        return ws[0].byteSize();
    }

    @Override
    public List<MemorySegment> expertMemory(int e) {
        return List.of(ws[e].data());
    }

    @Override
    public ExpertProjection readingFrom(List<List<MemorySegment>> memory) {
        Weights[] moved = ws.clone();
        for (int e = 0; e < moved.length; e++) if (memory.get(e) != null) moved[e] = ws[e].over(memory.get(e).getFirst());
        return new InputMajorProjection(moved);
    }

    /**
     * out_j[c] = bias[e·out + c] + Σ_r in_j[r] · W_e[r, c]: units of (expert, block of output columns) spread over the
     * threads, each decoding a stored row's block once and adding it, times each token's input, into the tokens' outputs.
     */
    @Override
    public void project(Kernels kernels, float[] bias, int[] active, int activeCount, int[] start, TokenRows inputs,
                        TokenRows outputs) {
        int in = in(), out = out(), blocks = (out + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        boolean oneTokenEach = ExpertProjection.oneTokenEach(active, activeCount, start);
        if (oneTokenEach) {
            projectOneToken(kernels, bias, active, activeCount, inputs, outputs);
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
     * {@link #project} when every active expert has one token (a decode step): units of (expert, block of stored
     * rows) stream whole rows (column blocks would read a piece of every row, strided) into a partial output each,
     * and the partials are then added per expert, in row-block order.
     */
    private void projectOneToken(Kernels kernels, float[] bias, int[] active, int activeCount, TokenRows inputs,
                                 TokenRows outputs) {
        int in = in(), out = out();
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
