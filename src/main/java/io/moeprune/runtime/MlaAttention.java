package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.AttentionSpec;

/**
 * DeepSeek multi-head latent attention. Queries: q_proj(x), or q_b_proj(RMSNorm(q_a_proj(x))) with a query LoRA
 * rank; each head is [nope | rope]. Keys and values: kv_a_proj_with_mqa(x) = [compressed kv (kvLoraRank) | shared
 * rope key (qkRope)]; kv_b_proj(RMSNorm(compressed)) gives per head [k_nope | v]. RoPE rotates the rope parts of the
 * queries and the one shared rope key (which every head's key ends with).
 *
 * <p>The cache keeps the compressed latent, not the expanded per-head keys and values, with kv_b_proj's
 * up-projections absorbed into the query and the output as DeepSeek's own inference code does: head h's score
 * q_nope·(W_UK,h c) + q_rope·k_rope equals (W_UK,hᵀ q_nope)·c + q_rope·k_rope, and its output
 * Σ_t p_t W_UV,h c_t equals W_UV,h Σ_t p_t c_t. So every head attends, as in multi-query attention, to one cached key
 * [c | k_rope] (kv_lora_rank + rope floats a position) and one value c (kv_lora_rank), instead of heads × (nope +
 * rope + v) floats (DeepSeek-V3: 1 088 floats a position and layer instead of 40 960). The latent is stored twice
 * (key and value), which keeps the shared attention kernels; a kernel reading the value from the key would save 512.
 */
public final class MlaAttention implements AttentionLayer {
    private final Linear q, qA, qB, kvA, kvB, o;
    private final RmsNorm qANorm, kvANorm;
    private final int heads, nope, ropeDim, valueDim, kvRank;
    private final Rope rope;
    private final float scale;
    /**
     * Batches of at least this many rows attend in the expanded form ({@link #expandedAttention});
     * {@code -Dmoeprune.mlaExpandedMinRows}, a large value keeps the absorbed form everywhere (A/B runs).
     */
    private static volatile int expandedMinRows = Integer.getInteger("moeprune.mlaExpandedMinRows", 128);

    /** For tests: batches of at least this many rows take the expanded form; returns the previous setting. */
    static int expandedMinRows(int rows) {
        int was = expandedMinRows;
        expandedMinRows = rows;
        return was;
    }

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

    /**
     * The layer's weights and shape, for runtimes that compute it elsewhere (the GPU runtime, io.moeprune.gpu.runtime):
     * {@code q} without a query LoRA, else {@code qA}, {@code qANorm}, {@code qB}.
     */
    public record Parts(Linear q, Linear qA, RmsNorm qANorm, Linear qB, Linear kvA, RmsNorm kvANorm, Linear kvB,
                        Linear o, int heads, int nope, int ropeDim, int valueDim, int kvRank, Rope rope, float scale) {
    }

    public Parts parts() {
        return new Parts(q, qA, qANorm, qB, kvA, kvANorm, kvB, o, heads, nope, ropeDim, valueDim, kvRank, rope, scale);
    }

    private int qkDim() {
        return nope + ropeDim;
    }

    @Override
    public int cacheKeyWidth() {
        return kvRank + ropeDim;
    }

    @Override
    public int cacheHeads() {
        return 1;
    }

    @Override
    public int cacheValueWidth() {
        return kvRank;
    }

    public long weightBytes() {
        long b = kvA.weights().byteSize() + kvB.weights().byteSize() + o.weights().byteSize();
        return b + (q != null ? q.weights().byteSize() : qA.weights().byteSize() + qB.weights().byteSize());
    }

    @Override
    public void forward(float[] xn, int n, int startPos, KvCache cache, int layer, float[] out) {
        long t = PhaseTimes.start();
        float[] qs = q != null ? q.apply(xn, n) : qB.apply(qANorm.normalizedRows(qA.apply(xn, n), n), n);
        float[] ckv = kvA.apply(xn, n);                       // [n, kvRank + ropeDim]
        t = PhaseTimes.end(PhaseTimes.Phase.QKV, t);
        int keyW = kvRank + ropeDim, qk = qkDim();
        float[] keys = new float[n * keyW], values = new float[n * kvRank];
        // Rows are independent: spread over the threads (a 2048-token prefill rotates 128 heads per row).
        Parallel.forRange(n, 16L * (heads * ropeDim + keyW), (i0, i1) -> {
            float[] cs = rope.newTable();
            for (int i = i0; i < i1; i++) {
                rope.table(startPos + i, cs);
                for (int h = 0; h < heads; h++) rope.rotate(qs, i * heads * qk + h * qk + nope, cs);
                rope.rotate(ckv, i * keyW + kvRank, cs);
                kvANorm.apply(ckv, i * keyW, keys, i * keyW);
                System.arraycopy(ckv, i * keyW + kvRank, keys, i * keyW + kvRank, ropeDim);
                System.arraycopy(keys, i * keyW, values, i * kvRank, kvRank);
            }
        });
        cache.put(layer, keys, values, n, startPos);
        t = PhaseTimes.end(PhaseTimes.Phase.QK_NORM_ROPE, t);
        float[] headValues;
        if (n >= expandedMinRows) {
            headValues = expandedAttention(qs, cache.keys(layer), cache.capacity(), n, startPos);
        } else {
            float[] latent = CausalAttention.attend(absorbedQueries(qs, n), cache.keys(layer), cache.values(layer),
                    cache.capacity(), n, startPos, heads, 1, keyW, kvRank, scale, 0, null);   // [n, heads·kvRank]
            headValues = upProjectedValues(latent, n);
        }
        t = PhaseTimes.end(PhaseTimes.Phase.ATTEND, t);
        if (n == 1) io.moeprune.kernels.Parallel.readAheadFor(NextProducts.takeAfterAttention());
        o.apply(headValues, n, out);
        PhaseTimes.end(PhaseTimes.Phase.O_PROJ, t);
    }

    /**
     * Long prefills as transformers computes MLA: the cached latents of every position expanded by kv_b_proj into
     * per-head keys [k_nope | k_rope] and values (one batched product), then ordinary multi-head attention. A query-key
     * pair then costs nope + rope + v multiply-adds per head (DeepSeek-V3: 320) instead of the absorbed form's
     * 2·kv_lora_rank + rope (1088); the expansion costs what absorbing the queries and up-projecting the outputs cost,
     * so from a few hundred rows on it is 3.4× less arithmetic. Returns the heads' values [n, heads·v].
     */
    private float[] expandedAttention(float[] qs, float[] cachedKeys, int capacity, int n, int startPos) {
        int total = startPos + n, keyW = kvRank + ropeDim, qk = qkDim(), perHead = nope + valueDim;
        float[] latents = new float[total * kvRank];
        for (int p = 0; p < total; p++) System.arraycopy(cachedKeys, p * keyW, latents, p * kvRank, kvRank);
        float[] kv = kvB.apply(latents, total);                         // [total, heads·(nope + v)]
        float[] k = new float[heads * total * qk], v = new float[heads * total * valueDim];
        Parallel.forRange(heads, 4L * total * perHead, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                for (int p = 0; p < total; p++) {
                    int src = p * heads * perHead + h * perHead, kOff = (h * total + p) * qk;
                    System.arraycopy(kv, src, k, kOff, nope);
                    System.arraycopy(cachedKeys, p * keyW + kvRank, k, kOff + nope, ropeDim);
                    System.arraycopy(kv, src + nope, v, (h * total + p) * valueDim, valueDim);
                }
            }
        });
        return CausalAttention.attend(qs, k, v, total, n, startPos, heads, heads, qk, valueDim, scale, 0, null);
    }

    /** Per row and head [W_UK,hᵀ q_nope | q_rope]: the query against the cached [c | k_rope], [n, heads·(kvRank + rope)]. */
    private float[] absorbedQueries(float[] qs, int n) {
        int keyW = kvRank + ropeDim, qk = qkDim(), rowsPerHead = nope + valueDim;
        float[] abs = new float[n * heads * keyW];
        Kernels kernels = Kernels.get();
        Parallel.forRange(heads, 2L * n * nope * kvRank, (h0, h1) -> {
            float[] row = new float[kvRank];
            for (int h = h0; h < h1; h++) {
                for (int d = 0; d < nope; d++) {
                    kvB.weights().readRow(h * rowsPerHead + d, 0, kvRank, row, 0);     // row d of W_UK,h
                    for (int i = 0; i < n; i++) kernels.axpy(qs[(i * heads + h) * qk + d], row, 0, abs, (i * heads + h) * keyW, kvRank);
                }
                for (int i = 0; i < n; i++) {
                    System.arraycopy(qs, (i * heads + h) * qk + nope, abs, (i * heads + h) * keyW + kvRank, ropeDim);
                }
            }
        });
        return abs;
    }

    /** Per row and head W_UV,h · (the attention-weighted latent): the heads' values, [n, heads·v]. */
    private float[] upProjectedValues(float[] latent, int n) {
        int rowsPerHead = nope + valueDim;
        float[] ctx = new float[n * heads * valueDim];
        Kernels kernels = Kernels.get();
        Parallel.forRange(heads, 2L * n * valueDim * kvRank, (h0, h1) -> {
            float[] row = new float[kvRank];
            for (int h = h0; h < h1; h++) {
                for (int e = 0; e < valueDim; e++) {
                    kvB.weights().readRow(h * rowsPerHead + nope + e, 0, kvRank, row, 0);   // row e of W_UV,h
                    for (int i = 0; i < n; i++) {
                        ctx[(i * heads + h) * valueDim + e] = kernels.dot(row, 0, latent, (i * heads + h) * kvRank, kvRank);
                    }
                }
            }
        });
        return ctx;
    }
}
