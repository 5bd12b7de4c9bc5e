package io.moeprune.runtime;

import io.moeprune.model.AttentionSpec;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;

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

    public GqaAttention(AttentionSpec spec, Linear q, Linear k, Linear v, Linear o, RmsNorm qNorm, RmsNorm kNorm,
                        Rope rope, float scale, int window) {
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
    }

    /** Bytes of the four projection matrices. */
    public long weightBytes() {
        return q.weights().byteSize() + k.weights().byteSize() + v.weights().byteSize() + o.weights().byteSize();
    }

    @Override
    public int cacheKeyWidth() {
        return kvHeads * headDim;
    }

    @Override
    public int cacheValueWidth() {
        return kvHeads * valueDim;
    }

    @Override
    public void forward(float[] xn, int n, int startPos, KvCache cache, int layer, float[] out) {
        int qw = heads * headDim, kw = kvHeads * headDim, vw = kvHeads * valueDim;
        float[] qs = q.apply(xn, n);
        float[] ks = k.apply(xn, n);
        float[] vs = v.apply(xn, n);
        normalize(qs, n, qw, qNorm);
        normalize(ks, n, kw, kNorm);
        if (!Float.isNaN(clip)) {
            clamp(qs);
            clamp(ks);
            clamp(vs);
        }
        float[] cs = rope.newTable();
        cache.ensureCapacity(startPos + n);
        float[] kc = cache.keys(layer), vc = cache.values(layer);
        for (int i = 0; i < n; i++) {
            rope.table(startPos + i, cs);
            for (int h = 0; h < heads; h++) rope.rotate(qs, i * qw + h * headDim, cs);
            for (int h = 0; h < kvHeads; h++) rope.rotate(ks, i * kw + h * headDim, cs);
        }
        System.arraycopy(ks, 0, kc, startPos * kw, n * kw);
        System.arraycopy(vs, 0, vc, startPos * vw, n * vw);

        float[] ctx = new float[n * heads * valueDim];
        // One item per (token, head); its work is about its context length × head width (in floats × 4 bytes).
        Kernels kernels = Kernels.get();
        Parallel.forRange(n * heads, 8L * (startPos + n) * headDim, (from, to) -> {
            for (int task = from; task < to; task++) {
                attendOne(kernels, task / heads, task % heads, startPos, qs, kc, vc, ctx);
            }
        });
        o.apply(ctx, n, out);
    }

    /** Softmax attention of query row i, head h over positions [first, startPos+i]. */
    private void attendOne(Kernels kernels, int i, int h, int startPos, float[] qs, float[] kc, float[] vc,
                           float[] ctx) {
        int pos = startPos + i;
        int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
        int kvh = h / (heads / kvHeads);
        int kw = kvHeads * headDim, vw = kvHeads * valueDim;
        int qOff = i * heads * headDim + h * headDim;
        float[] scores = new float[pos - first + 1];
        float max = Float.NEGATIVE_INFINITY;
        for (int t = first; t <= pos; t++) {
            int kOff = t * kw + kvh * headDim;
            float s = kernels.dot(qs, qOff, kc, kOff, headDim) * scale;
            scores[t - first] = s;
            if (s > max) max = s;
        }
        float sum = 0f;
        for (int j = 0; j < scores.length; j++) {
            float e = (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        int cOff = (i * heads + h) * valueDim;
        for (int t = first; t <= pos; t++) {
            float p = scores[t - first] * inv;
            int vOff = t * vw + kvh * valueDim;
            kernels.axpy(p, vc, vOff, ctx, cOff, valueDim);
        }
    }

    private void normalize(float[] x, int n, int rowWidth, RmsNorm norm) {
        if (norm == null || qkNormKind == AttentionSpec.QkNorm.NONE) return;
        // PER_HEAD norms have width head_dim and run over every head; FULL norms span the whole row.
        norm.applyRows(x, n * rowWidth / norm.width());
    }

    private void clamp(float[] x) {
        for (int i = 0; i < x.length; i++) x[i] = Math.max(-clip, Math.min(clip, x[i]));
    }
}
