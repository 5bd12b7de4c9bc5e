package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.MlaAttention;

/**
 * DeepSeek's multi-head latent attention for a chunk on the device, in the expanded form a prefill suits (the CPU's
 * {@link MlaAttention} absorbs kv_b_proj into the query and output instead: the same sums in another order):
 * queries q_proj(x) or q_b(norm(q_a(x))), each head [nope | rope]; kv_a(x) = [latent | shared rope key]; rope on the
 * queries' rope parts and the shared key; kv_b(norm(latent)) = per head [k_nope | v]; keys [k_nope | shared rope key]
 * per head (the shared key repeated with {@code copy2d}), values gathered contiguous; causal attention over all heads.
 */
final class MlaStep {
    private MlaStep() {
    }

    /** The attention's output rows [T, heads·v] into {@code b.attention}; returns its o_proj. */
    static LayerPlan.Projection run(DeviceOps ops, LayerPlan.Mla a, DeviceBuffer slot, ChunkBuffers b, int tokens,
                                    AttentionStep.Attend attend) {
        MlaAttention.Parts p = a.parts();
        int heads = p.heads(), nope = p.nope(), rope = p.ropeDim(), v = p.valueDim(), rank = p.kvRank();
        int qk = a.qkDim(), keyW = a.keyWidth(), kvW = nope + v;
        // Regions of the chunk's F32 scratch, per token: q, q_a, [latent | rope key], latent, kv, keys, values.
        long at = 0;
        long qAt = at;
        at += 4L * tokens * heads * qk;
        long qaAt = at;
        at += 4L * tokens * a.queryRank();
        long ckvAt = at;
        at += 4L * tokens * keyW;
        long latentAt = at;
        at += 4L * tokens * rank;
        long kvAt = at;
        at += 4L * tokens * heads * kvW;
        long keysAt = at;
        at += 4L * tokens * heads * qk;
        long valuesAt = at;

        if (a.q() != null) {
            AttentionStep.project(ops, a.q(), slot, b.xnBf16, tokens, b.qkv, qAt, heads * qk);
        } else {
            int r = a.queryRank();
            AttentionStep.project(ops, a.qA(), slot, b.xnBf16, tokens, b.qkv, qaAt, r);
            AttentionStep.norm(ops, a.qANorm(), slot, b.qkv, qaAt, tokens, r);
            ops.toBf16(view(b.qkv, qaAt), b.qkvBf16, (long) tokens * r);
            AttentionStep.project(ops, a.qB(), slot, b.qkvBf16, tokens, b.qkv, qAt, heads * qk);
        }
        AttentionStep.project(ops, a.kvA(), slot, b.xnBf16, tokens, b.qkv, ckvAt, keyW);
        DeviceBuffer invFreq = a.invFreq().in(slot);
        float factor = p.rope().attentionFactor();
        boolean interleaved = p.rope().interleaved();
        ops.rope(b.qkv, qAt, tokens, heads * qk, heads, qk, nope, rope, b.positions, invFreq, factor, interleaved);
        ops.rope(b.qkv, ckvAt + 4L * rank, tokens, keyW, 1, rope, 0, rope, b.positions, invFreq, factor, interleaved);
        // The normalised latent, contiguous, is kv_b's input.
        ops.copy2d(b.qkv, ckvAt, keyW, 0, b.qkv, latentAt, rank, 0, tokens, rank, 1);
        AttentionStep.norm(ops, a.kvANorm(), slot, b.qkv, latentAt, tokens, rank);
        ops.toBf16(view(b.qkv, latentAt), b.qkvBf16, (long) tokens * rank);
        AttentionStep.project(ops, a.kvB(), slot, b.qkvBf16, tokens, b.qkv, kvAt, heads * kvW);
        // Keys [k_nope | shared rope key] and values, one row per (token, head).
        int rows = tokens * heads;
        ops.copy2d(b.qkv, kvAt, kvW, 0, b.qkv, keysAt, qk, 0, rows, nope, 1);
        ops.copy2d(b.qkv, ckvAt, keyW, rank, b.qkv, keysAt, qk, nope, rows, rope, heads);
        ops.copy2d(b.qkv, kvAt, kvW, nope, b.qkv, valuesAt, v, 0, rows, v, 1);
        attend.attend(b.qkv, qAt, heads * qk, keysAt, heads * qk, valuesAt, heads * v, b.attention, null, heads, heads,
                qk, v, p.scale(), 0, null);
        return a.o();
    }

    /** The buffer from {@code offset} bytes on (for operations that take no offset). */
    private static DeviceBuffer view(DeviceBuffer b, long offset) {
        return new DeviceBuffer(b.address() + offset, b.bytes() - offset);
    }
}
