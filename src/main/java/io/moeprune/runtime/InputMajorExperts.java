package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

/**
 * gpt-oss experts: 3-D tensors stored input-major, gate_up_proj [E, hidden, 2·inter] with gate and up interleaved
 * (columns 2j and 2j + 1) and down_proj [E, inter, hidden], each with a bias, and the clamped SwiGLU of gpt-oss:
 * gate ≤ limit, up in [−limit, limit], out = (up + 1) · gate · σ(alpha · gate).
 *
 * <p>The products go row by row of the stored matrices (y += x[r] · W[r, :], the row decoded once), one token at a
 * time: correct, not yet tuned (the experts' kernels take output-major weights). Tokens are spread over the threads.
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

    /** The contract of {@link ExpertDispatch#run}: routed outputs, and each slot's unweighted output when asked. */
    void run(float[] xn, int n, int k, int[] start, int[] order, float[] weights, float[] routed, float[] expertOut) {
        Kernels kernels = Kernels.get();
        int numExperts = count();
        Parallel.forRange(n, (long) k * expertBytes(), (from, to) -> {
            float[] row = new float[Math.max(2 * intermediate, hidden)];
            float[] gu = new float[2 * intermediate], act = new float[intermediate], y = new float[hidden];
            java.util.Arrays.fill(routed, from * hidden, to * hidden, 0f);
            // Experts in ascending id, as transformers adds them (and as a pruned checkpoint, renumbered in order).
            for (int e = 0; e < numExperts; e++) {
                for (int j = start[e]; j < start[e + 1]; j++) {
                    int slot = order[j], t = slot / k;
                    if (t < from || t >= to) continue;
                    product(kernels, gateUp[e], xn, t * hidden, gateUpBias, e * 2 * intermediate, row, gu);
                    for (int i = 0; i < intermediate; i++) {
                        float g = Math.min(gu[2 * i], limit), u = Math.max(-limit, Math.min(limit, gu[2 * i + 1]));
                        float glu = g / (1f + (float) Math.exp(-alpha * g));
                        act[i] = (u + 1f) * glu;
                    }
                    product(kernels, down[e], act, 0, downBias, e * hidden, row, y);
                    kernels.axpy(weights[slot], y, 0, routed, t * hidden, hidden);
                    if (expertOut != null) System.arraycopy(y, 0, expertOut, slot * hidden, hidden);
                }
            }
        });
    }

    /** out = bias[bOff..] + Σ_r x[xOff + r] · W[r, :] for input-major W [in, out]. */
    private static void product(Kernels kernels, Weights w, float[] x, int xOff, float[] bias, int bOff, float[] row,
                                float[] out) {
        int cols = w.cols();
        System.arraycopy(bias, bOff, out, 0, cols);
        for (int r = 0; r < w.rows(); r++) {
            float xr = x[xOff + r];
            if (xr == 0f) continue;
            w.readRow(r, row, 0);
            kernels.axpy(xr, row, 0, out, 0, cols);
        }
    }
}
