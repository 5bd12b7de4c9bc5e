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

    /**
     * The passes around the attention kernel cut ({@code -Dmoeprune.fusedAttentionEpilogue=true}; issue 22): Qwen3's
     * per-head q/k norms and the rope in one pass over q and one over k ({@link DeviceOps#rmsNormHeadsRope}); the
     * attention's output rows written in BF16 by the attention itself ({@link DeviceOps#attentionBf16}: CudaOps's
     * flash kernel; GQA over a chunk, see {@link #overChunk}), no F32 rows and no {@code toBf16} pass; o_proj
     * accumulated into the residual by the product (y += x·Wᵀ, cuBLAS's beta = 1) where the layer's residual multiplier
     * is 1 and o_proj has no bias, no branch rows and no {@code addScaled} pass. The same bits as off on HostOps; CUDA
     * may differ where cuBLAS picks another kernel for beta = 1 (another accumulation order: within rounding). On by
     * default since 2026-12-07 (CudaOpsTest on an H100: the rope kernel and the BF16 rows bit-identical to the
     * unfused kernels; the attention phase 34.2 → 29.0 ms of a 1.9 B calibration run);
     * {@code -Dmoeprune.fusedAttentionEpilogue=false} is the A/B. Read once;
     * {@link GpuLayerMajorPass#fusedAttentionEpilogue} sets it per pass.
     */
    static final boolean FUSED_EPILOGUE = !"false".equals(System.getProperty("moeprune.fusedAttentionEpilogue"));

    private AttentionStep() {
    }

    /**
     * Where the attention's keys and values come from: the chunk's own rows (a prefill, {@link #overChunk}) or a
     * sequence's cache that the new rows are first appended to (decoding, {@link DeviceKvCache}). q, k and v are rows
     * of {@code qkv} from byte offsets {@code qAt}, {@code kAt}, {@code vAt} with their own strides (elements);
     * output rows [tokens, heads·vDim] go to {@code out} in F32, or, where {@code outBf16} is given and the
     * implementation writes BF16 itself, to {@code outBf16} in BF16 (each F32 value rounded once, as toBf16).
     * Returns whether it wrote the BF16 rows (the caller converts the F32 ones otherwise).
     */
    interface Attend {
        boolean attend(DeviceBuffer qkv, long qAt, int qStride, long kAt, int kStride, long vAt, int vStride,
                       DeviceBuffer out, DeviceBuffer outBf16, int heads, int kvHeads, int qkDim, int vDim,
                       float scale, int window, DeviceBuffer sinks);
    }

    /** Causal attention within each sequence of a chunk ({@code b.starts}); BF16 rows where asked. */
    static Attend overChunk(DeviceOps ops, ChunkBuffers b, int tokens, int sequences) {
        return (qkv, qAt, qStride, kAt, kStride, vAt, vStride, out, outBf16, heads, kvHeads, qkDim, vDim, scale,
                window, sinks) -> {
            if (outBf16 == null) {
                ops.attention(qkv, qAt, qStride, qkv, kAt, kStride, qkv, vAt, vStride, out, b.starts, sequences,
                        tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks);
                return false;
            }
            ops.attentionBf16(qkv, qAt, qStride, qkv, kAt, kStride, qkv, vAt, vStride, out, outBf16, b.starts,
                    sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks);
            return true;
        };
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

    /**
     * x += m·o_proj(attention(inputNorm(x))). {@code fused}: the prologue ({@link #FUSED_PROLOGUE}); {@code epilogue}:
     * the passes around the attention kernel ({@link #FUSED_EPILOGUE}).
     */
    static void run(DeviceOps ops, LayerPlan layer, DeviceBuffer slot, ChunkBuffers b, DeviceBuffer x, int tokens,
                    Attend attend, boolean fused, boolean epilogue) {
        int hidden = layer.inputNorm().width();
        LayerPlan.Norm in = layer.inputNorm();
        // The attention's products read only the BF16 rows: fused, the F32 ones are not written.
        normRows(ops, in, slot, x, b, tokens, false, fused);
        LayerPlan.Projection o;
        boolean bf16Rows;
        switch (layer.attention()) {
            case LayerPlan.Gqa g -> {
                o = g.o();
                bf16Rows = gqa(ops, g, slot, b, tokens, attend, fused, epilogue);
            }
            case LayerPlan.Mla m -> {   // MLA keeps F32 rows (its attention's inputs are gathered copies anyway)
                o = MlaStep.run(ops, m, slot, b, tokens, attend);
                bf16Rows = false;
            }
        }
        if (!bf16Rows) ops.toBf16(b.attention, b.attentionBf16, (long) tokens * o.in());
        if (epilogue && o.bias() == null && layer.residualMultiplier() == 1f) {
            // x += attention·Woᵀ in the product's epilogue: F32 product + x in float, as addScaled(x, branch, 1) adds
            // the product's F32 rows. Nothing reads the branch rows after the attention (the feed-forward block
            // writes them whole before reading them), so they are not written.
            ops.linear(tokens, o.out(), o.in(), slot, o.weight().offset(), b.attentionBf16, 0, x, 0, hidden, true);
        } else {
            project(ops, o, slot, b.attentionBf16, tokens, b.branch, 0, hidden);
            ops.addScaled(x, 0, b.branch, 0, (long) tokens * hidden, layer.residualMultiplier());
        }
    }

    /**
     * GQA's output rows into {@code b.attention} (F32) or, where the epilogue is on and {@code attend} writes BF16,
     * into {@code b.attentionBf16}; returns whether it wrote the BF16 rows.
     */
    private static boolean gqa(DeviceOps ops, LayerPlan.Gqa a, DeviceBuffer slot, ChunkBuffers b, int tokens,
                               Attend attend, boolean fused, boolean epilogue) {
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
        DeviceBuffer invFreq = a.invFreq().in(slot);
        int rotary = p.rope().rotaryDim();
        float factor = p.rope().attentionFactor();
        boolean interleaved = p.rope().interleaved();
        // OLMoE's clip_qkv comes between the norms and the rope: no norm and rope in one pass there.
        boolean normsWithRope = epilogue && a.qNorm() != null && p.qkNormKind() == AttentionSpec.QkNorm.PER_HEAD
                && Float.isNaN(p.clip());
        if (normsWithRope) {
            ops.rmsNormHeadsRope(b.qkv, 0, tokens, p.heads(), p.headDim(), row, a.qNorm().weight().in(slot),
                    a.qNorm().eps(), b.positions, invFreq, rotary, factor, interleaved);
            ops.rmsNormHeadsRope(b.qkv, kAt, tokens, p.kvHeads(), p.headDim(), row, a.kNorm().weight().in(slot),
                    a.kNorm().eps(), b.positions, invFreq, rotary, factor, interleaved);
        } else if (a.qNorm() != null) {
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
        if (!normsWithRope) {
            ops.rope(b.qkv, 0, tokens, row, p.heads(), p.headDim(), 0, rotary, b.positions, invFreq, factor,
                    interleaved);
            ops.rope(b.qkv, kAt, tokens, row, p.kvHeads(), p.headDim(), 0, rotary, b.positions, invFreq, factor,
                    interleaved);
        }
        return attend.attend(b.qkv, 0, row, kAt, row, vAt, row, b.attention, epilogue ? b.attentionBf16 : null,
                p.heads(), p.kvHeads(), p.headDim(), p.valueDim(), p.scale(), p.window(),
                a.sinks() == null ? null : a.sinks().in(slot));
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
