package io.moeprune.runtime;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.safetensors.DType;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A gpt-oss expert projection as the released checkpoints store it: ws[e] is expert e's MXFP4 matrix [out, in]
 * (output-major), a view into the mapped {@code *_blocks} / {@code *_scales} tensors. Work units are (expert, block of
 * output rows). An expert with one token (decode) multiplies the 4-bit rows directly ({@link Kernels#mxfp4Rows}:
 * weights are read once and never widened in memory); an expert with several multiplies the unit's rows with all its
 * tokens on the kernels' batch product ({@link Kernels#mxfp4MatMulT}): dequantised once into a BF16 panel for the AMX
 * tiles where the kernels have them, else decoded to F32 for the register tiles.
 */
record Mxfp4Projection(Mxfp4Matrix[] ws) implements ExpertProjection {
    /** Rows of a unit when an expert has several tokens: 32 decoded rows of 2880 inputs are 360 KB, in L2. */
    private static final int BATCH_ROWS = 32;
    /** The same on the tiles: 128 BF16 rows of 2880 are 720 KB, and each load of the packed inputs serves 4× more. */
    private static final int TILE_ROWS = 128;
    /** Units per thread to aim for when every expert has one token (a decode step's few experts over all threads). */
    private static final int UNITS_PER_THREAD = 4;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

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
    public List<MemorySegment> expertMemory(int e) {
        return List.of(ws[e].blocks(), ws[e].scales());
    }

    @Override
    public ExpertProjection readingFrom(List<List<MemorySegment>> memory) {
        Mxfp4Matrix[] moved = ws.clone();
        for (int e = 0; e < moved.length; e++) {
            List<MemorySegment> m = memory.get(e);
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
        TransposedBatch[] batches = new TransposedBatch[activeCount];
        // The rows reach the kernels as BF16 panels (exact for MXFP4) where those are on, so the batch is packed as a
        // BF16 checkpoint's would be; else as F32 rows, which no kernel repacks for.
        DType rowsAs = KernelSwitches.quantPanels() ? DType.BF16 : DType.F32;
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
                batches[a] = kernels.prepare(xT, tokens, stride, in, rowsAs, null);
            }
        });
        boolean tiles = false;
        for (TransposedBatch b : batches) tiles |= b != null && b.packed() != null;
        int rowsPerUnit = tiles ? TILE_ROWS : BATCH_ROWS;
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
                    several(kernels, ws[e], r0, r1, batches[a], y, a, outputs, bias, e * out);
                }
            }
        });
    }

    /** Rows [r0, r1) of w times an expert's transposed tokens, plus the bias, into the tokens' output rows. */
    private static void several(Kernels kernels, Mxfp4Matrix w, int r0, int r1, TransposedBatch x, float[] y, int a,
                                TokenRows outputs, float[] bias, int biasOff) {
        int stride = x.stride();
        float[][] scratch = SCRATCH.get();
        if (scratch[0].length < (r1 - r0) * stride) scratch[0] = new float[(r1 - r0) * stride];
        float[] yT = scratch[0];
        kernels.mxfp4MatMulT(w, r0, r1, x, yT, 0);
        for (int j = 0; j < x.n(); j++) {
            int yOff = outputs.at(a, j);
            for (int r = r0; r < r1; r++) y[yOff + r] = yT[(r - r0) * stride + j] + bias[biasOff + r];
        }
    }
}
