package io.moeprune.runtime;

import io.moeprune.model.AttentionSpec;

/**
 * DeepSeek multi-head latent attention. Queries: q_proj(x), or q_b_proj(RMSNorm(q_a_proj(x))) with a query LoRA
 * rank; each head is [nope | rope]. Keys and values: kv_a_proj_with_mqa(x) = [compressed kv (kvLoraRank) | shared
 * rope key (qkRope)]; kv_b_proj(RMSNorm(compressed)) gives per head [k_nope | v]. RoPE rotates the rope parts of the
 * queries and the one shared rope key (which every head's key ends with). The cache keeps the expanded per-head
 * keys and values (simple, not the compressed form).
 */
public final class MlaAttention implements AttentionLayer {
    private final Linear q, qA, qB, kvA, kvB, o;
    private final RmsNorm qANorm, kvANorm;
    private final int heads, nope, ropeDim, valueDim, kvRank;
    private final Rope rope;
    private final float scale;

    public MlaAttention(AttentionSpec spec, Linear q, Linear qA, RmsNorm qANorm, Linear qB, Linear kvA, RmsNorm kvANorm,
                        Linear kvB, Linear o, Rope rope, float scale) {
        AttentionSpec.Mla m = spec.mla();
        this.q = q;
        this.qA = qA;
        this.qANorm = qANorm;
        this.qB = qB;
        this.kvA = kvA;
        this.kvANorm = kvANorm;
        this.kvB = kvB;
        this.o = o;
        this.heads = spec.numHeads();
        this.nope = m.qkNopeHeadDim();
        this.ropeDim = m.qkRopeHeadDim();
        this.valueDim = m.vHeadDim();
        this.kvRank = m.kvLoraRank();
        this.rope = rope;
        this.scale = scale;
    }

    private int qkDim() {
        return nope + ropeDim;
    }

    @Override
    public int cacheKeyWidth() {
        return heads * qkDim();
    }

    @Override
    public int cacheHeads() {
        return heads;
    }

    @Override
    public int cacheValueWidth() {
        return heads * valueDim;
    }

    public long weightBytes() {
        long b = kvA.weights().byteSize() + kvB.weights().byteSize() + o.weights().byteSize();
        return b + (q != null ? q.weights().byteSize() : qA.weights().byteSize() + qB.weights().byteSize());
    }

    @Override
    public void forward(float[] xn, int n, int startPos, KvCache cache, int layer, float[] out) {
        float[] qs = q != null ? q.apply(xn, n) : qB.apply(qANorm.normalizedRows(qA.apply(xn, n), n), n);
        float[] ckv = kvA.apply(xn, n);                       // [n, kvRank + ropeDim]
        int ckvW = kvRank + ropeDim;
        float[] compressed = new float[n * kvRank];
        for (int i = 0; i < n; i++) kvANorm.apply(ckv, i * ckvW, compressed, i * kvRank);
        float[] kv = kvB.apply(compressed, n);                // [n, heads·(nope + v)]

        int qk = qkDim(), kvW = nope + valueDim;
        int kw = heads * qk, vw = heads * valueDim;
        float[] ks = new float[n * kw], vs = new float[n * vw];
        float[] cs = rope.newTable();
        for (int i = 0; i < n; i++) {
            rope.table(startPos + i, cs);
            for (int h = 0; h < heads; h++) rope.rotate(qs, i * heads * qk + h * qk + nope, cs);
            rope.rotate(ckv, i * ckvW + kvRank, cs);
            int kBase = i * kw, vBase = i * vw;
            for (int h = 0; h < heads; h++) {
                int src = i * heads * kvW + h * kvW;
                System.arraycopy(kv, src, ks, kBase + h * qk, nope);
                System.arraycopy(ckv, i * ckvW + kvRank, ks, kBase + h * qk + nope, ropeDim);
                System.arraycopy(kv, src + nope, vs, vBase + h * valueDim, valueDim);
            }
        }
        cache.put(layer, ks, vs, n, startPos);
        float[] ctx = CausalAttention.attend(qs, cache.keys(layer), cache.values(layer), cache.capacity(), n, startPos,
                heads, heads, qk, valueDim, scale, 0, null);
        if (n == 1) io.moeprune.kernels.Parallel.readAheadFor(NextProducts.takeAfterAttention());
        o.apply(ctx, n, out);
    }
}
