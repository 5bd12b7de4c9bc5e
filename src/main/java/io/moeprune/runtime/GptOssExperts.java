package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntBinaryOperator;

/**
 * gpt-oss experts: two fused projections with biases, gate_up [E, 2·inter outputs] with gate and up interleaved
 * (outputs 2j and 2j + 1) and down [E, hidden outputs], and the clamped SwiGLU of gpt-oss: gate ≤ limit, up in
 * [−limit, limit], out = (up + 1) · gate · σ(alpha · gate). The projections come stored input-major in BF16
 * ({@link #inputMajor}) or as the released checkpoints' MXFP4 ({@link #mxfp4}); each active expert's tokens are
 * projected together.
 */
public final class GptOssExperts implements ExpertWeights {
    private final ExpertProjection gateUp, down;
    private final float[] gateUpBias, downBias;
    private final int count, hidden, intermediate;
    private final float alpha, limit;

    private GptOssExperts(int count, ExpertProjection gateUp, float[] gateUpBias, ExpertProjection down,
                          float[] downBias, float alpha, float limit) {
        this.count = count;
        this.gateUp = gateUp;
        this.gateUpBias = gateUpBias;
        this.down = down;
        this.downBias = downBias;
        this.hidden = down.out();
        this.intermediate = down.in();
        this.alpha = alpha;
        this.limit = limit;
        if (gateUp.in() != hidden || gateUp.out() != 2 * intermediate) {
            throw new IllegalArgumentException("gate_up [" + gateUp.in() + " -> " + gateUp.out() + "] does not fit down ["
                    + intermediate + " -> " + hidden + "]");
        }
    }

    /** BF16 (or F32/F16) checkpoints: gateUp[e] [hidden, 2·inter] and down[e] [inter, hidden], input-major. */
    public static GptOssExperts inputMajor(Weights[] gateUp, float[] gateUpBias, Weights[] down, float[] downBias,
                                           float alpha, float limit) {
        return new GptOssExperts(gateUp.length, new InputMajorProjection(gateUp), gateUpBias,
                new InputMajorProjection(down), downBias, alpha, limit);
    }

    /** MXFP4 checkpoints: gateUp[e] [2·inter, hidden] and down[e] [hidden, inter], output-major. */
    public static GptOssExperts mxfp4(Mxfp4Matrix[] gateUp, float[] gateUpBias, Mxfp4Matrix[] down, float[] downBias,
                                      float alpha, float limit) {
        return new GptOssExperts(gateUp.length, new Mxfp4Projection(gateUp), gateUpBias, new Mxfp4Projection(down),
                downBias, alpha, limit);
    }

    /**
     * The stored projections, for runtimes that compute them elsewhere (the GPU runtime, io.moeprune.gpu.runtime): per
     * expert either input-major matrices ({@code gateUpInputMajor} [hidden, 2·inter], {@code downInputMajor} [inter,
     * hidden]) or MXFP4 output-major ones ({@code gateUpMxfp4} [2·inter, hidden], {@code downMxfp4} [hidden, inter]),
     * the other pair null; gate and up interleaved (outputs 2j, 2j + 1), as their biases.
     */
    public record Parts(Weights[] gateUpInputMajor, Mxfp4Matrix[] gateUpMxfp4, float[] gateUpBias,
                        Weights[] downInputMajor, Mxfp4Matrix[] downMxfp4, float[] downBias, int hidden,
                        int intermediate, float alpha, float limit) {
    }

    public Parts parts() {
        return new Parts(gateUp instanceof InputMajorProjection p ? p.ws() : null,
                gateUp instanceof Mxfp4Projection p ? p.ws() : null, gateUpBias,
                down instanceof InputMajorProjection p ? p.ws() : null, down instanceof Mxfp4Projection p ? p.ws() : null,
                downBias, hidden, intermediate, alpha, limit);
    }

    @Override
    public int count() {
        return count;
    }

    /** Not available: these experts are not three output-major matrices ({@link #run} computes them). */
    @Override
    public SwiGlu expert(int e) {
        throw new UnsupportedOperationException("gpt-oss experts are fused");
    }

    @Override
    public long expertBytes() {
        return gateUp.expertBytes() + down.expertBytes();
    }

    /** gate_up's memory, then down's. */
    @Override
    public List<MemorySegment> expertMemory(int e) {
        List<MemorySegment> m = new ArrayList<>(gateUp.expertMemory(e));
        m.addAll(down.expertMemory(e));
        return List.copyOf(m);
    }

    @Override
    public ExpertWeights readingFrom(List<List<MemorySegment>> memory) {
        int gateUpParts = gateUp.expertMemory(0).size();
        List<List<MemorySegment>> gu = new ArrayList<>(count), dn = new ArrayList<>(count);
        for (List<MemorySegment> m : memory) {
            gu.add(m == null ? null : m.subList(0, gateUpParts));
            dn.add(m == null ? null : m.subList(gateUpParts, m.size()));
        }
        return new GptOssExperts(count, gateUp.readingFrom(gu), gateUpBias, down.readingFrom(dn), downBias, alpha, limit);
    }

    @Override
    public void run(float[] xn, int n, int k, int hidden, int[] start, int[] order, float[] weights, float[] routed,
                    float[] expertOut, Parallel.NextCall after) {
        run(xn, n, k, start, order, weights, routed, expertOut);
    }

    /** The contract of {@link ExpertDispatch#run}: routed outputs, and each slot's unweighted output when asked. */
    public void run(float[] xn, int n, int k, int[] start, int[] order, float[] weights, float[] routed,
                    float[] expertOut) {
        Kernels kernels = Kernels.get();
        int wide = 2 * intermediate;
        int[] active = new int[count];
        int activeCount = 0;
        for (int e = 0; e < count; e++) if (start[e + 1] > start[e]) active[activeCount++] = e;
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
        gateUp.project(kernels, gateUpBias, active, activeCount, start,
                new TokenRows(tokensIn, (a, j) -> slotOf.applyAsInt(a, j) / k * hidden),
                new TokenRows(gu, (a, j) -> j * wide));
        Parallel.forRange(activeCount, (long) n * k / Math.max(1, activeCount) * intermediate * 16, (from, to) -> {
            for (int a = from; a < to; a++) activate(gu[a], act[a]);
        });
        float[] slotsOut = expertOut != null ? expertOut : new float[n * k * hidden];
        float[][] slotRows = new float[activeCount][];
        Arrays.fill(slotRows, slotsOut);
        down.project(kernels, downBias, active, activeCount, start, new TokenRows(act, (a, j) -> j * intermediate),
                new TokenRows(slotRows, (a, j) -> slotOf.applyAsInt(a, j) * hidden));
        ExpertDispatch.addSlots(n, k, hidden, activeCount, active, start, order, weights, slotsOut, routed);
    }

    /** gpt-oss's clamped SwiGLU of interleaved gate/up outputs g into out. */
    private void activate(float[] g, float[] out) {
        for (int j = 0; j < out.length; j++) {
            float gate = Math.min(g[2 * j], limit), up = Math.max(-limit, Math.min(limit, g[2 * j + 1]));
            out[j] = (up + 1f) * (gate / (1f + (float) Math.exp(-alpha * gate)));
        }
    }
}
