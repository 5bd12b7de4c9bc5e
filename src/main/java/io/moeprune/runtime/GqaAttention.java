package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.AttentionSpec;


/**
 * Multi-head / grouped-query attention as in Llama-style decoders: q, k, v projections (optional biases), optional
 * q/k RMSNorm (per head: Qwen3; over the whole projection: OLMoE), optional clamp, RoPE, causal softmax attention
 * with scale 1/sqrt(head_dim) (or an override), optional sliding window, output projection.
 */
public final class GqaAttention implements AttentionLayer {
    private final Linear q, k, v, o;
    private final RmsNorm qNorm, kNorm;
    private final AttentionSpec.QkNorm qkNormKind;
    private final float clip;
    private final int heads, kvHeads, headDim, valueDim, window;
    private final float scale;
    private final Rope rope;
    /** Per query head, a learned logit added as one more softmax column and then dropped (gpt-oss); null if none. */
    private final float[] sinks;

    public GqaAttention(AttentionSpec spec, Linear q, Linear k, Linear v, Linear o, RmsNorm qNorm, RmsNorm kNorm,
                        Rope rope, float scale, int window, float[] sinks) {
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.qNorm = qNorm;
        this.kNorm = kNorm;
        this.qkNormKind = spec.qkNorm();
        this.clip = spec.clipQkv();
        this.heads = spec.numHeads();
        this.kvHeads = spec.numKvHeads();
        this.headDim = spec.headDim();
        this.valueDim = spec.valueHeadDim() > 0 ? spec.valueHeadDim() : spec.headDim();
        this.rope = rope;
        this.scale = scale;
        this.window = window;
        this.sinks = sinks;
    }

    /**
     * The layer's weights and shape, for runtimes that compute it elsewhere (the GPU runtime, io.moeprune.gpu.runtime):
     * the same projections, norms, rope, scale, window and sinks this class computes with.
     */
    public record Parts(Linear q, Linear k, Linear v, Linear o, RmsNorm qNorm, RmsNorm kNorm,
                        AttentionSpec.QkNorm qkNormKind, float clip, int heads, int kvHeads, int headDim, int valueDim,
                        Rope rope, float scale, int window, float[] sinks) {
    }

    public Parts parts() {
        return new Parts(q, k, v, o, qNorm, kNorm, qkNormKind, clip, heads, kvHeads, headDim, valueDim, rope, scale,
                window, sinks);
    }

    /** Bytes of the four projection matrices. */
    public long weightBytes() {
        return q.weights().byteSize() + k.weights().byteSize() + v.weights().byteSize() + o.weights().byteSize();
    }

    @Override
    public Parallel.NextCall firstProduct() {
        return Kernels.get().nextOneInput(java.util.List.of(q.weights(), k.weights(), v.weights()));
    }

    @Override
    public int cacheKeyWidth() {
        return kvHeads * headDim;
    }

    @Override
    public int cacheHeads() {
        return kvHeads;
    }

    @Override
    public int cacheValueWidth() {
        return kvHeads * valueDim;
    }

    @Override
    public void forward(float[] xn, int n, int startPos, KvCache cache, int layer, float[] out) {
        int qw = heads * headDim, kw = kvHeads * headDim, vw = kvHeads * valueDim;
        long t = PhaseTimes.start();
        // Threads out of q/k/v rows fetch the cache their attention item will read (evicted by the step's weights).
        if (n == 1 && startPos + 1 <= cache.capacity()) {
            Parallel.readAheadFor(CausalAttention.decodeCall(cache.keys(layer), cache.values(layer), cache.capacity(),
                    startPos, heads, kvHeads, headDim, valueDim, window));
        }
        float[][] qkv = Linear.applyAll(xn, n, q, k, v);
        t = PhaseTimes.end(PhaseTimes.Phase.QKV, t);
        float[] qs = qkv[0], ks = qkv[1], vs = qkv[2];
        normalizeAndClip(qs, ks, vs, n, qw, kw);
        Parallel.forRange(n, 16L * (qw + kw), (from, to) -> {
            float[] cs = rope.newTable();
            for (int i = from; i < to; i++) {
                rope.table(startPos + i, cs);
                for (int h = 0; h < heads; h++) rope.rotate(qs, i * qw + h * headDim, cs);
                for (int h = 0; h < kvHeads; h++) rope.rotate(ks, i * kw + h * headDim, cs);
            }
        });
        cache.put(layer, ks, vs, n, startPos);
        t = PhaseTimes.end(PhaseTimes.Phase.QK_NORM_ROPE, t);

        // While a decode step's attention runs, the threads it leaves idle read their rows of o_proj ahead.
        if (n == 1) Parallel.readAheadFor(Kernels.get().nextOneInput(java.util.List.of(o.weights())));
        float[] ctx = CausalAttention.attend(qs, cache.keys(layer), cache.values(layer), cache.capacity(), n, startPos,
                heads, kvHeads, headDim, valueDim, scale, window, sinks);
        t = PhaseTimes.end(PhaseTimes.Phase.ATTEND, t);
        if (n == 1) Parallel.readAheadFor(NextProducts.takeAfterAttention());
        o.apply(ctx, n, out);
        PhaseTimes.end(PhaseTimes.Phase.O_PROJ, t);
    }

    /**
     * A batched decode step: the q/k/v and output projections run once over the n rows (each matrix read once a
     * step, not once a sequence); norms, RoPE at each row's own position, the cache append and the attention itself
     * per sequence.
     */
    @Override
    public void forwardRows(float[] xn, int n, int hidden, int[] positions, KvCache[] caches, int layer, float[] out) {
        int qw = heads * headDim, kw = kvHeads * headDim, vw = kvHeads * valueDim, cw = heads * valueDim;
        long t = PhaseTimes.start();
        float[][] qkv = Linear.applyAll(xn, n, q, k, v);
        t = PhaseTimes.end(PhaseTimes.Phase.QKV, t);
        float[] qs = qkv[0], ks = qkv[1], vs = qkv[2];
        normalizeAndClip(qs, ks, vs, n, qw, kw);
        float[] ctx = new float[n * cw];
        float[] cs = rope.newTable();
        for (int i = 0; i < n; i++) {
            rope.table(positions[i], cs);
            for (int h = 0; h < heads; h++) rope.rotate(qs, i * qw + h * headDim, cs);
            for (int h = 0; h < kvHeads; h++) rope.rotate(ks, i * kw + h * headDim, cs);
            KvCache cache = caches[i];
            cache.put(layer, java.util.Arrays.copyOfRange(ks, i * kw, (i + 1) * kw),
                    java.util.Arrays.copyOfRange(vs, i * vw, (i + 1) * vw), 1, positions[i]);
            float[] c = CausalAttention.attend(java.util.Arrays.copyOfRange(qs, i * qw, (i + 1) * qw), cache.keys(layer),
                    cache.values(layer), cache.capacity(), 1, positions[i], heads, kvHeads, headDim, valueDim, scale,
                    window, sinks);
            System.arraycopy(c, 0, ctx, i * cw, cw);
        }
        t = PhaseTimes.end(PhaseTimes.Phase.ATTEND, t);
        o.apply(ctx, n, out);
        PhaseTimes.end(PhaseTimes.Phase.O_PROJ, t);
    }

    private void normalize(float[] x, int n, int rowWidth, RmsNorm norm) {
        if (norm == null || qkNormKind == AttentionSpec.QkNorm.NONE) return;
        // PER_HEAD norms have width head_dim and run over every head; FULL norms span the whole row.
        norm.applyRows(x, n * rowWidth / norm.width());
    }

    /** The q/k norms, then OLMoE's clip of q, k and v (when the config sets one), on freshly projected rows. */
    private void normalizeAndClip(float[] qs, float[] ks, float[] vs, int n, int qw, int kw) {
        normalize(qs, n, qw, qNorm);
        normalize(ks, n, kw, kNorm);
        if (!Float.isNaN(clip)) {
            clamp(qs);
            clamp(ks);
            clamp(vs);
        }
    }

    private void clamp(float[] x) {
        for (int i = 0; i < x.length; i++) x[i] = Math.max(-clip, Math.min(clip, x[i]));
    }
}
