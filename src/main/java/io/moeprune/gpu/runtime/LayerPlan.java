package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.RoutingSpec;
import io.moeprune.gpu.runtime.SlotLayout.Region;
import io.moeprune.kernels.Weights;
import io.moeprune.model.AttentionSpec;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.DecoderLayer;
import io.moeprune.runtime.DenseMlp;
import io.moeprune.runtime.GptOssExperts;
import io.moeprune.runtime.GqaAttention;
import io.moeprune.runtime.Linear;
import io.moeprune.runtime.MlaAttention;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.MoeBlock;
import io.moeprune.runtime.PerExpertWeights;
import io.moeprune.runtime.RmsNorm;
import io.moeprune.runtime.SwiGlu;

import java.util.ArrayList;
import java.util.List;

/**
 * One decoder layer's weights as they lie in a device slot ({@link SlotLayout}), with the shapes the GPU steps need.
 * Built from the CPU {@link Model}'s mapped tensors, so both runtimes compute with the same weights.
 */
record LayerPlan(int index, SlotLayout layout, Norm inputNorm, Attention attention, Norm postNorm, FeedForward feedForward,
                 float residualMultiplier) {

    /** An RMSNorm's F32 weight in the slot. */
    record Norm(Region weight, int width, float eps) {
        static Norm of(RmsNorm n, SlotLayout s) {
            return n == null ? null : new Norm(s.f32(n.weight()), n.width(), n.eps());
        }
    }

    /** A projection: its BF16 matrix [out, in] and optional F32 bias [out]. */
    record Projection(Region weight, Region bias, int out, int in) {
        static Projection of(Linear l, SlotLayout s) {
            return new Projection(s.bf16(l.weights()), l.bias() == null ? null : s.f32(l.bias()), l.out(), l.in());
        }

        /**
         * {@code parts} with their matrices stacked row-wise in one BF16 region (one product gives all their outputs
         * side by side in a row), each part's bias in F32 after it; the parts' own regions are ranges
         * of {@code stacked}.
         */
        static Projection[] stacked(SlotLayout s, Linear... parts) {
            Weights[] weights = new Weights[parts.length];
            for (int i = 0; i < parts.length; i++) weights[i] = parts[i].weights();
            Region all = s.bf16(weights);
            Projection[] out = new Projection[parts.length];
            long at = all.offset();
            for (int i = 0; i < parts.length; i++) {
                Linear l = parts[i];
                Region weight = new Region(at, 2L * l.out() * l.in());
                out[i] = new Projection(weight, l.bias() == null ? null : s.f32(l.bias()), l.out(), l.in());
                at += weight.bytes();
            }
            return out;
        }
    }

    /** A layer's attention, with the chunk scratch it needs per token. */
    sealed interface Attention permits Gqa, Mla {
        /** F32 elements per token of its intermediate rows. */
        int scratchFloats();

        /** BF16 elements per token of its intermediate product inputs. */
        int scratchBf16();

        /** Elements per token of the attention output (o_proj's input). */
        int outputWidth();
    }

    /** Grouped-query attention (the Llama-style families); q, k and v's matrices back to back ({@link #qkvWeight}). */
    record Gqa(GqaAttention.Parts parts, Projection q, Projection k, Projection v, Projection o, Norm qNorm, Norm kNorm,
               Region sinks, Region invFreq) implements Attention {
        /** q, k and v's matrices as one [q; k; v] matrix [q.out + k.out + v.out, in] ({@link Projection#stacked}). */
        Region qkvWeight() {
            return new Region(q.weight().offset(), q.weight().bytes() + k.weight().bytes() + v.weight().bytes());
        }

        @Override
        public int scratchFloats() {
            return q.out() + k.out() + v.out();
        }

        @Override
        public int scratchBf16() {
            return 0;
        }

        @Override
        public int outputWidth() {
            return o.in();
        }
    }

    /**
     * DeepSeek's multi-head latent attention, computed in its expanded form on the device (a prefill: per head keys
     * [k_nope | the shared rope key] and values from kv_b_proj of the normalised latent; the CPU's absorbed form is the
     * same sum in another order). {@code q} without a query LoRA, else {@code qA}, {@code qANorm}, {@code qB}.
     */
    record Mla(MlaAttention.Parts parts, Projection q, Projection qA, Norm qANorm, Projection qB, Projection kvA,
               Norm kvANorm, Projection kvB, Projection o, Region invFreq) implements Attention {
        int qkDim() {
            return parts.nope() + parts.ropeDim();
        }

        int keyWidth() {
            return parts.kvRank() + parts.ropeDim();
        }

        int queryRank() {
            return qA == null ? 0 : qA.out();
        }

        @Override
        public int scratchFloats() {
            int h = parts.heads();
            return h * qkDim() + queryRank() + keyWidth() + parts.kvRank() + h * (parts.nope() + parts.valueDim())
                    + h * qkDim() + h * parts.valueDim();
        }

        @Override
        public int scratchBf16() {
            return Math.max(queryRank(), parts.kvRank());
        }

        @Override
        public int outputWidth() {
            return parts.heads() * parts.valueDim();
        }
    }

    /**
     * A gated MLP: gate over up as one [2·I, H] matrix, and down [H, I]; gpt-oss's experts add F32 biases ([gate | up]
     * [2·I] and [H]), null otherwise.
     */
    record Mlp(Region gateUp, Region down, int intermediate, Region gateUpBias, Region downBias) {
        static Mlp of(SwiGlu m, SlotLayout s) {
            return new Mlp(s.bf16(m.gate(), m.up()), s.bf16(m.down()), m.intermediate(), null, null);
        }
    }

    /** The gated activation act(g)·(u + upShift), act(g) = g·σ(alpha·g), gate and up clamped by limit when above 0. */
    record Activation(float alpha, float limit, float upShift) {
        static final Activation SWIGLU = new Activation(1f, 0f, 0f);
    }

    sealed interface FeedForward permits Dense, Moe {
        /**
         * Bytes per token this block's [gate | up] rows take (the routed experts' in {@code experts}' type, a dense or
         * shared MLP's F32), and BF16 elements its activations.
         */
        long gateUpBytes(ExpertOutputs experts);

        int activationWidth();
    }

    record Dense(Mlp mlp) implements FeedForward {
        @Override
        public long gateUpBytes(ExpertOutputs experts) {
            return 4L * 2 * mlp.intermediate();
        }

        @Override
        public int activationWidth() {
            return mlp.intermediate();
        }
    }

    /**
     * A MoE block: the router in F32 (and its bias), each expert's MLP, the shared expert and its sigmoid gate (or
     * null); {@code routing} describes the block's router to the device's routing (with DeepSeek-V3's selection bias
     * in F32, or null), and {@code block} routes on the host exactly as the CPU does where the device cannot.
     */
    record Moe(MoeBlock block, Region router, Region routerBias, Mlp[] experts, Activation activation, Mlp shared,
               Projection sharedGate, int numExperts, int topK, RoutingSpec routing, Region selectionBias)
            implements FeedForward {
        @Override
        public long gateUpBytes(ExpertOutputs outputs) {
            return Math.max((long) outputs.bytes() * 2 * topK * experts[0].intermediate(),
                    shared == null ? 0 : 4L * 2 * shared.intermediate());
        }

        /** Whether an expert adds a bias to a product's rows (gpt-oss): those rows stay F32. */
        boolean expertBiases() {
            for (Mlp e : experts) if (e.gateUpBias() != null || e.downBias() != null) return true;
            return false;
        }

        @Override
        public int activationWidth() {
            return Math.max(topK * experts[0].intermediate(), shared == null ? 0 : shared.intermediate());
        }
    }

    /** Every layer of the model, each in a layout of its own. A family the GPU does not run yet is a one-line error. */
    static List<LayerPlan> of(Model model) {
        ModelSpec spec = model.spec();
        switch (spec.family()) {
            case QWEN3_MOE, QWEN2_MOE, OLMOE, MIXTRAL, GRANITE_MOE, DEEPSEEK_V2, DEEPSEEK_V3, GPT_OSS -> {
            }
            default -> throw new MoepruneException("--device cuda does not run " + spec.family().modelType()
                    + " yet (it runs qwen3_moe, qwen2_moe, olmoe, mixtral, granitemoe, deepseek_v2, deepseek_v3 and"
                    + " gpt_oss): use --device cpu");
        }
        List<LayerPlan> plans = new ArrayList<>();
        for (DecoderLayer layer : model.layers()) plans.add(of(layer, spec));
        return plans;
    }

    private static LayerPlan of(DecoderLayer layer, ModelSpec spec) {
        SlotLayout s = new SlotLayout();
        Norm in = Norm.of(layer.inputNorm(), s);
        Attention attention = switch (layer.attention()) {
            case GqaAttention g -> gqa(g, s);
            case MlaAttention m -> mla(m, s);
            default -> throw new MoepruneException("--device cuda: layer " + layer.index() + "'s attention "
                    + layer.attention().getClass().getSimpleName() + " does not run on the GPU yet");
        };
        Norm post = Norm.of(layer.postAttentionNorm(), s);
        FeedForward ffn = switch (layer.feedForward()) {
            case DenseMlp d -> new Dense(Mlp.of(d.mlp(), s));
            case MoeBlock m -> moe(m, spec, s);
            default -> throw new MoepruneException("--device cuda: layer " + layer.index() + "'s feed-forward block "
                    + layer.feedForward().getClass().getSimpleName() + " does not run on the GPU yet");
        };
        return new LayerPlan(layer.index(), s, in, attention, post, ffn, layer.residualMultiplier());
    }

    private static Gqa gqa(GqaAttention a, SlotLayout s) {
        GqaAttention.Parts p = a.parts();
        boolean norms = p.qkNormKind() != AttentionSpec.QkNorm.NONE;
        // q, k and v back to back: the fused prologue projects them in one product (AttentionStep).
        Projection[] qkv = Projection.stacked(s, p.q(), p.k(), p.v());
        return new Gqa(p, qkv[0], qkv[1], qkv[2], Projection.of(p.o(), s), norms ? Norm.of(p.qNorm(), s) : null,
                norms ? Norm.of(p.kNorm(), s) : null,
                p.sinks() == null ? null : s.f32(p.sinks()), s.f32(p.rope().invFreq()));
    }

    private static Mla mla(MlaAttention a, SlotLayout s) {
        MlaAttention.Parts p = a.parts();
        boolean lora = p.q() == null;
        return new Mla(p, lora ? null : Projection.of(p.q(), s), lora ? Projection.of(p.qA(), s) : null,
                lora ? Norm.of(p.qANorm(), s) : null, lora ? Projection.of(p.qB(), s) : null, Projection.of(p.kvA(), s),
                Norm.of(p.kvANorm(), s), Projection.of(p.kvB(), s), Projection.of(p.o(), s), s.f32(p.rope().invFreq()));
    }

    private static Moe moe(MoeBlock m, ModelSpec spec, SlotLayout s) {
        Region router = s.f32(m.gate().weights());
        Region bias = m.gate().bias() == null ? null : s.f32(m.gate().bias());
        Mlp[] mlps = new Mlp[m.experts().count()];
        Activation activation;
        switch (m.experts()) {
            case PerExpertWeights experts -> {
                for (int e = 0; e < mlps.length; e++) mlps[e] = Mlp.of(experts.expert(e), s);
                activation = Activation.SWIGLU;
            }
            case GptOssExperts experts -> {
                GptOssExperts.Parts p = experts.parts();
                for (int e = 0; e < mlps.length; e++) mlps[e] = gptOss(p, e, s);
                activation = new Activation(p.alpha(), p.limit(), 1f);
            }
            default -> throw new MoepruneException("--device cuda does not run " + spec.family().modelType()
                    + "'s experts yet");
        }
        Mlp shared = m.shared() == null ? null : Mlp.of(m.shared(), s);
        Projection sharedGate = m.sharedGate() == null ? null : Projection.of(m.sharedGate(), s);
        float[] selection = m.router().selectionBias();
        return new Moe(m, router, bias, mlps, activation, shared, sharedGate, spec.moe().numExperts(), spec.moe().topK(),
                RoutingSpec.of(m.router()), selection == null ? null : s.f32(selection));
    }

    /**
     * gpt-oss expert e: gate_up's interleaved outputs (gate 2j, up 2j + 1) reordered to [gate | up] rows, its bias
     * likewise; down as stored (MXFP4) or transposed (input-major).
     */
    private static Mlp gptOss(GptOssExperts.Parts p, int e, SlotLayout s) {
        int inter = p.intermediate(), hidden = p.hidden();
        int[] gateThenUp = new int[2 * inter];
        float[] bias = new float[2 * inter];
        for (int j = 0; j < inter; j++) {
            gateThenUp[j] = 2 * j;
            gateThenUp[inter + j] = 2 * j + 1;
        }
        for (int r = 0; r < 2 * inter; r++) bias[r] = p.gateUpBias()[e * 2 * inter + gateThenUp[r]];
        Region gateUp = p.gateUpMxfp4() != null ? s.mxfp4(p.gateUpMxfp4()[e], gateThenUp)
                : s.bf16Transposed(p.gateUpInputMajor()[e], gateThenUp);
        Region down = p.downMxfp4() != null ? s.mxfp4(p.downMxfp4()[e], SlotLayout.identity(hidden))
                : s.bf16Transposed(p.downInputMajor()[e], SlotLayout.identity(hidden));
        float[] downBias = java.util.Arrays.copyOfRange(p.downBias(), e * hidden, (e + 1) * hidden);
        return new Mlp(gateUp, down, inter, s.f32(bias), s.f32(downBias));
    }
}
