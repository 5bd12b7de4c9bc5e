package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;

import java.util.Arrays;

/**
 * A sparse MoE block for a batch of tokens: router logits for all rows at once, routing per token, then the
 * tokens are grouped by expert so every chosen expert's weights are read once per batch (one matMul over the
 * gathered rows), and their weighted outputs are added into each token's row ({@link ExpertDispatch}). Shared
 * experts (optionally sigmoid-gated, Qwen2-MoE) are added to the routed output.
 *
 * <p>Without an observer nothing per-expert is kept; with one, each chosen expert's unweighted output is
 * recorded into a {@link MoeTrace}.
 */
public final class MoeBlock implements FeedForward {
    private final int layer;
    private final MoeSpec spec;
    private final Linear gate;
    private final Router router;
    /** The mapped experts, or {@link ResidentExperts} over them while a server keeps copies (set between steps). */
    private volatile ExpertWeights experts;
    private final SwiGlu shared;
    private final Linear sharedGate;
    private final float residualMultiplier;

    public MoeBlock(int layer, MoeSpec spec, Linear gate, Router router, ExpertWeights experts, SwiGlu shared,
                    Linear sharedGate, float residualMultiplier) {
        this.layer = layer;
        this.spec = spec;
        this.gate = gate;
        this.router = router;
        this.experts = experts;
        this.shared = shared;
        this.sharedGate = sharedGate;
        this.residualMultiplier = residualMultiplier;
    }

    public int layer() {
        return layer;
    }

    public ExpertWeights experts() {
        return experts;
    }

    /** Reads the routed experts from {@code replacement} from the next forward pass on (resident experts). */
    void useExperts(ExpertWeights replacement) {
        if (replacement.count() != experts.count()) throw new IllegalArgumentException("expert count differs");
        experts = replacement;
    }

    public SwiGlu shared() {
        return shared;
    }

    /** Qwen2-MoE's sigmoid gate [1, hidden] on the shared expert's output, or null. */
    public Linear sharedGate() {
        return sharedGate;
    }

    public Linear gate() {
        return gate;
    }

    public Router router() {
        return router;
    }

    @Override
    public Parallel.NextCall firstProduct() {
        return Kernels.get().nextOneInput(java.util.List.of(gate.weights()));
    }

    @Override
    public void forward(float[] xn, float[] h, int n, int startPos, ForwardContext ctx, float[] out) {
        int numExperts = spec.numExperts(), k = spec.topK();
        int hidden = gate.in();
        long time = PhaseTimes.start();
        float[] logits = gate.applyF32(xn, n);
        int[] ids = new int[n * k];
        float[] w = new float[n * k];
        boolean[] kept = ctx.mask().kept(layer);
        GroupStrategy strategy = ctx.mask().strategy();
        Parallel.forRange(n, 64L * numExperts, (from, to) -> {
            float[] scratch = new float[2 * numExperts];
            for (int t = from; t < to; t++) router.route(logits, t * numExperts, kept, strategy, ids, w, t * k, scratch);
        });

        // Group the (token, slot) pairs by expert; within an expert they stay in token order.
        int[] start = new int[numExperts + 1];
        for (int id : ids) start[id + 1]++;
        for (int e = 0; e < numExperts; e++) start[e + 1] += start[e];
        int[] order = new int[n * k];
        int[] fill = Arrays.copyOf(start, numExperts);
        for (int slot = 0; slot < ids.length; slot++) order[fill[ids[slot]]++] = slot;

        MoeObserver observer = ctx.observer();
        float[] routed = observer == null ? out : new float[n * hidden];
        // Each chosen expert's unweighted output per (token, slot) exists only for an observer.
        float[] expertOut = observer == null ? null : new float[n * k * hidden];
        PhaseTimes.end(PhaseTimes.Phase.ROUTER, time);
        Parallel.NextCall after = n == 1 ? NextProducts.takeAfterFeedForward() : null;
        // The routed experts' last call is followed by the shared expert's first, or by the next layer.
        experts.run(xn, n, k, hidden, start, order, w, routed, expertOut, shared == null ? after : shared.firstProduct());
        time = PhaseTimes.start();
        float[] sharedOut = null;
        if (shared != null) {
            sharedOut = new float[n * hidden];
            shared.apply(xn, n, sharedOut, after);
            if (sharedGate != null) {
                float[] g = sharedGate.apply(xn, n);
                for (int t = 0; t < n; t++) {
                    float s = 1f / (1f + (float) Math.exp(-g[t]));
                    for (int i = 0; i < hidden; i++) sharedOut[t * hidden + i] *= s;
                }
            }
        }
        if (routed != out) System.arraycopy(routed, 0, out, 0, n * hidden);
        if (sharedOut != null) for (int i = 0; i < n * hidden; i++) out[i] += sharedOut[i];
        PhaseTimes.end(PhaseTimes.Phase.SHARED_EXPERT, time);

        if (observer != null) {
            float[] output = new float[n * hidden];
            for (int i = 0; i < n * hidden; i++) output[i] = h[i] + residualMultiplier * out[i];
            int[] positions = new int[n];
            for (int t = 0; t < n; t++) positions[t] = startPos + t;
            observer.onMoeBlock(new MoeTrace(layer, positions, n, hidden, numExperts, k, h, logits, ids, w, expertOut,
                    routed, sharedOut, output));
        }
    }
}
