package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.MemorySegment;

/**
 * A gpt-oss expert projection as the released checkpoints store it: ws[e] is expert e's MXFP4 matrix [out, in]
 * (output-major), a view into the mapped {@code *_blocks} / {@code *_scales} tensors. Work units are (expert, block of
 * output rows). An expert with one token (decode) multiplies the 4-bit rows directly ({@link Kernels#mxfp4Rows}:
 * weights are read once and never widened in memory); an expert with several decodes the unit's rows to F32 once
 * and multiplies them with all its tokens on the kernels' batch product ({@link Kernels#matMulT}).
 */
record Mxfp4Projection(Mxfp4Matrix[] ws) implements ExpertProjection {
    /** Rows of a unit when an expert has several tokens: 32 decoded rows of 2880 inputs are 360 KB, in L2. */
    private static final int BATCH_ROWS = 32;
    /** Units per thread to aim for when every expert has one token (a decode step's few experts over all threads). */
    private static final int UNITS_PER_THREAD = 4;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    @Override
    public int in() {
        return ws[0].cols();
    }

    @Override
    public int out() {
        return ws[0].rows();
    }

    @Override
    public long expertBytes() {
        return ws[0].byteSize();
    }

    /** Blocks, then scales. */
    @Override
    public java.util.List<MemorySegment> expertMemory(int e) {
        return java.util.List.of(ws[e].blocks(), ws[e].scales());
    }

    @Override
    public ExpertProjection readingFrom(java.util.List<java.util.List<MemorySegment>> memory) {
        Mxfp4Matrix[] moved = ws.clone();
        for (int e = 0; e < moved.length; e++) {
            java.util.List<MemorySegment> m = memory.get(e);
            if (m != null) moved[e] = ws[e].over(m.get(0), m.get(1));
        }
        return new Mxfp4Projection(moved);
    }

    @Override
    public void project(Kernels kernels, float[] bias, int[] active, int activeCount, int[] start, TokenRows inputs,
                        TokenRows outputs) {
        int in = in(), out = out();
        boolean oneTokenEach = ExpertProjection.oneTokenEach(active, activeCount, start);
        // Each active expert's inputs as its units read them: one token deinterleaved, several transposed.
        float[][] prepared = new float[activeCount][];
        int[] strides = new int[activeCount];
        Parallel.forRange(activeCount, 4L * in, (from, to) -> {
            for (int a = from; a < to; a++) {
                int tokens = start[active[a] + 1] - start[active[a]];
                float[] x = inputs.arrays()[a];
                if (tokens == 1) {
                    prepared[a] = Mxfp4Matrix.deinterleave(x, inputs.at(a, 0), in);
                    continue;
                }
                // Transposed, in the deinterleaved column order of the decoded rows.
                int stride = kernels.batchStride(tokens);
                float[] xT = new float[in * stride];
                for (int j = 0; j < tokens; j++) {
                    float[] d = Mxfp4Matrix.deinterleave(x, inputs.at(a, j), in);
                    for (int c = 0; c < in; c++) xT[c * stride + j] = d[c];
                }
                prepared[a] = xT;
                strides[a] = stride;
            }
        });
        int rowsPerUnit = BATCH_ROWS;
        if (oneTokenEach) {
            int perExpert = Math.max(1, (Parallel.threads() * UNITS_PER_THREAD + activeCount - 1) / activeCount);
            rowsPerUnit = Math.max(1, (out + perExpert - 1) / perExpert);
        }
        int rowsEach = rowsPerUnit, blocks = (out + rowsEach - 1) / rowsEach;
        Parallel.forRange(activeCount * blocks, (long) rowsEach * in / 2, (from, to) -> {
            for (int u = from; u < to; u++) {
                int a = u / blocks, e = active[a], r0 = (u % blocks) * rowsEach, r1 = Math.min(out, r0 + rowsEach);
                int tokens = start[e + 1] - start[e];
                float[] y = outputs.arrays()[a];
                if (tokens == 1) {
                    int yOff = outputs.at(a, 0) + r0;
                    kernels.mxfp4Rows(ws[e], r0, r1, prepared[a], y, yOff);
                    for (int r = r0; r < r1; r++) y[yOff + r - r0] += bias[e * out + r];
                } else {
                    several(kernels, ws[e], r0, r1, prepared[a], tokens, strides[a], y, a, outputs, bias, e * out);
                }
            }
        });
    }

    /** Rows [r0, r1) of w decoded to F32 and multiplied with an expert's transposed tokens xT, plus the bias. */
    private static void several(Kernels kernels, Mxfp4Matrix w, int r0, int r1, float[] xT, int tokens, int stride,
                                float[] y, int a, TokenRows outputs, float[] bias, int biasOff) {
        int rows = r1 - r0, in = w.cols();
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < rows * in) scratch[0] = new float[rows * in];
        if (scratch[1].length < rows * stride) scratch[1] = new float[rows * stride];
        float[] decoded = scratch[0], yT = scratch[1];
        kernels.mxfp4DecodeRows(w, r0, r1, decoded);
        Weights f32 = new Weights(MemorySegment.ofArray(decoded).asSlice(0, 4L * rows * in), DType.F32, rows, in);
        kernels.matMulT(f32, 0, rows, xT, tokens, stride, yT, 0);
        for (int j = 0; j < tokens; j++) {
            int yOff = outputs.at(a, j);
            for (int r = r0; r < r1; r++) y[yOff + r] = yT[(r - r0) * stride + j] + bias[biasOff + r];
        }
    }
}
