package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.model.AttentionSpec;
import io.moeprune.runtime.GqaAttention;

/**
 * x += m·attention(norm(x)) for a chunk of whole sequences on the device: the attention's output rows (GQA here, as
 * {@link GqaAttention} computes it; MLA in {@link MlaStep}), then o_proj and the residual add. GQA: q, k, v projected
 * over all tokens into one fused row per token, biases, q/k norms (per head or over the whole projection), rope at
 * each token's position in its sequence, causal attention sequence by sequence.
 */
final class AttentionStep {
    /**
     * The blocks' prologues with fewer launches and passes (q, k and v in one product over their stacked matrices;
     * Qwen3's per-head q/k norms in one launch each for q and k instead of one per head; the input and post-attention
     * RMSNorms writing their BF16 rows in the same pass, see {@link #normRows}). On by default: the same bits as
     * unfused on HostOps, and 5-6 % more calibration tokens/s on the random 1.9 B model on an H100 (2026-12-07,
     * BENCHMARKS.md); {@code -Dmoeprune.fusedPrologue=false} is the A/B. Read once;
     * {@link GpuLayerMajorPass#fusedPrologue} sets it per pass (tests compare both on one device).
     */
    static final boolean FUSED_PROLOGUE = !"false".equals(System.getProperty("moeprune.fusedPrologue"));

    private AttentionStep() {
    }

    /**
     * Where the attention's keys and values come from: the chunk's own rows (a prefill, {@link #overChunk}) or a
     * sequence's cache that the new rows are first appended to (decoding, {@link DeviceKvCache}). q, k and v are rows
     * of {@code qkv} from byte offsets {@code qAt}, {@code kAt}, {@code vAt} with their own strides (elements);
     * output rows [tokens, heads·vDim] go to {@code out}.
     */
    interface Attend {
        void attend(DeviceBuffer qkv, long qAt, int qStride, long kAt, int kStride, long vAt, int vStride,
                    DeviceBuffer out, int heads, int kvHeads, int qkDim, int vDim, float scale, int window,
                    DeviceBuffer sinks);
    }

    /** Causal attention within each sequence of a chunk ({@code b.starts}). */
    static Attend overChunk(DeviceOps ops, ChunkBuffers b, int tokens, int sequences) {
        return (qkv, qAt, qStride, kAt, kStride, vAt, vStride, out, heads, kvHeads, qkDim, vDim, scale, window,
                sinks) -> ops.attention(qkv, qAt, qStride, qkv, kAt, kStride, qkv, vAt, vStride, out, b.starts,
                sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks);
    }

    /** The device bytes the attention of {@code a} allocates for itself on sequences of up to {@code longest} tokens. */
    static long scratchBytes(DeviceOps ops, LayerPlan.Attention a, int longest) {
        return switch (a) {
            case LayerPlan.Gqa g -> ops.attentionScratchBytes(longest, g.parts().heads(), g.parts().kvHeads(),
                    g.parts().headDim(), g.parts().valueDim());
            case LayerPlan.Mla m -> ops.attentionScratchBytes(longest, m.parts().heads(), m.parts().heads(), m.qkDim(),
                    m.parts().valueDim());
        };
    }

    static void run(DeviceOps ops, LayerPlan layer, DeviceBuffer slot, ChunkBuffers b, DeviceBuffer x, int tokens,
                    Attend attend, boolean fused) {
        int hidden = layer.inputNorm().width();
        LayerPlan.Norm in = layer.inputNorm();
        // The attention's products read only the BF16 rows: fused, the F32 ones are not written.
        normRows(ops, in, slot, x, b, tokens, false, fused);
        LayerPlan.Projection o = switch (layer.attention()) {
            case LayerPlan.Gqa g -> gqa(ops, g, slot, b, tokens, attend, fused);
            case LayerPlan.Mla m -> MlaStep.run(ops, m, slot, b, tokens, attend);
        };
        ops.toBf16(b.attention, b.attentionBf16, (long) tokens * o.in());
        project(ops, o, slot, b.attentionBf16, tokens, b.branch, 0, hidden);
        ops.addScaled(x, 0, b.branch, 0, (long) tokens * hidden, layer.residualMultiplier());
    }

    /** GQA's output rows into {@code b.attention}; returns its o_proj. */
    private static LayerPlan.Projection gqa(DeviceOps ops, LayerPlan.Gqa a, DeviceBuffer slot, ChunkBuffers b,
                                            int tokens, Attend attend, boolean fused) {
        GqaAttention.Parts p = a.parts();
        int qw = a.q().out(), kw = a.k().out(), vw = a.v().out(), row = qw + kw + vw;
        long kAt = 4L * qw, vAt = 4L * (qw + kw);
        if (fused) {
            // One product over the stacked [q; k; v] matrix writes each token's fused row; the biases as unfused.
            ops.linear(tokens, row, a.q().in(), slot, a.qkvWeight().offset(), b.xnBf16, 0, b.qkv, 0, row, false);
            addBias(ops, a.q(), slot, tokens, b.qkv, 0, row);
            addBias(ops, a.k(), slot, tokens, b.qkv, kAt, row);
            addBias(ops, a.v(), slot, tokens, b.qkv, vAt, row);
        } else {
            project(ops, a.q(), slot, b.xnBf16, tokens, b.qkv, 0, row);
            project(ops, a.k(), slot, b.xnBf16, tokens, b.qkv, kAt, row);
            project(ops, a.v(), slot, b.xnBf16, tokens, b.qkv, vAt, row);
        }
        if (a.qNorm() != null) {
            if (p.qkNormKind() == AttentionSpec.QkNorm.PER_HEAD && fused) {
                headNorms(ops, a.qNorm(), slot, b.qkv, 0, tokens, p.heads(), p.headDim(), row);
                headNorms(ops, a.kNorm(), slot, b.qkv, kAt, tokens, p.kvHeads(), p.headDim(), row);
            } else if (p.qkNormKind() == AttentionSpec.QkNorm.PER_HEAD) {
                for (int h = 0; h < p.heads(); h++) norm(ops, a.qNorm(), slot, b.qkv, 4L * h * p.headDim(), tokens, row);
                for (int h = 0; h < p.kvHeads(); h++) norm(ops, a.kNorm(), slot, b.qkv, kAt + 4L * h * p.headDim(), tokens, row);
            } else {
                norm(ops, a.qNorm(), slot, b.qkv, 0, tokens, row);
                norm(ops, a.kNorm(), slot, b.qkv, kAt, tokens, row);
            }
        }
        // OLMoE's clip_qkv, after the norms as the CPU's GqaAttention (q, k and v are one fused row).
        if (!Float.isNaN(p.clip())) ops.clamp(b.qkv, 0, tokens, row, row, p.clip());
        DeviceBuffer invFreq = a.invFreq().in(slot);
        int rotary = p.rope().rotaryDim();
        float factor = p.rope().attentionFactor();
        boolean interleaved = p.rope().interleaved();
        ops.rope(b.qkv, 0, tokens, row, p.heads(), p.headDim(), 0, rotary, b.positions, invFreq, factor, interleaved);
        ops.rope(b.qkv, kAt, tokens, row, p.kvHeads(), p.headDim(), 0, rotary, b.positions, invFreq, factor, interleaved);
        attend.attend(b.qkv, 0, row, kAt, row, vAt, row, b.attention, p.heads(), p.kvHeads(), p.headDim(),
                p.valueDim(), p.scale(), p.window(), a.sinks() == null ? null : a.sinks().in(slot));
        return a.o();
    }

    /** y[:, at..] (rows {@code ldy} apart) = x·Wᵀ (+ bias). */
    static void project(DeviceOps ops, LayerPlan.Projection w, DeviceBuffer slot, DeviceBuffer x, int tokens,
                        DeviceBuffer y, long at, int ldy) {
        ops.linear(tokens, w.out(), w.in(), slot, w.weight().offset(), x, 0, y, at, ldy, false);
        addBias(ops, w, slot, tokens, y, at, ldy);
    }

    /** y[:, at..] += w's bias, if it has one. */
    private static void addBias(DeviceOps ops, LayerPlan.Projection w, DeviceBuffer slot, int tokens, DeviceBuffer y,
                                long at, int ldy) {
        if (w.bias() != null) ops.addBias(y, at, tokens, w.out(), ldy, w.bias().in(slot));
    }

    /**
     * x normalised by {@code n} into {@code b.xnBf16} and {@code b.xn} (F32): fused, in one pass, and the F32 rows only
     * when {@code keepF32} (the router reads them); unfused, rmsNorm then toBf16 (both rows always).
     */
    static void normRows(DeviceOps ops, LayerPlan.Norm n, DeviceBuffer slot, DeviceBuffer x, ChunkBuffers b,
                         int tokens, boolean keepF32, boolean fused) {
        int width = n.width();
        if (fused) {
            ops.rmsNormBf16(x, keepF32 ? b.xn : null, b.xnBf16, tokens, width, n.weight().in(slot), n.eps());
        } else {
            ops.rmsNorm(x, 0, b.xn, 0, tokens, width, width, n.weight().in(slot), n.eps());
            ops.toBf16(b.xn, b.xnBf16, (long) tokens * width);
        }
    }

    /**
     * The per-head norm {@code n} of each of {@code heads} heads of {@code headDim}, from byte {@code at} of x's rows.
     */
    private static void headNorms(DeviceOps ops, LayerPlan.Norm n, DeviceBuffer slot, DeviceBuffer x, long at,
                                  int tokens, int heads, int headDim, int stride) {
        ops.rmsNormHeads(x, at, tokens, heads, headDim, stride, n.weight().in(slot), n.eps());
    }

    static void norm(DeviceOps ops, LayerPlan.Norm n, DeviceBuffer slot, DeviceBuffer x, long at, int tokens,
                             int stride) {
        ops.rmsNorm(x, at, x, at, tokens, n.width(), stride, n.weight().in(slot), n.eps());
    }
}
