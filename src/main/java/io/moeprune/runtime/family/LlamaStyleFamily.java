package io.moeprune.runtime.family;

import io.moeprune.MoepruneException;
import io.moeprune.model.AttentionSpec;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.runtime.AttentionLayer;
import io.moeprune.runtime.ExpertWeights;
import io.moeprune.runtime.GqaAttention;
import io.moeprune.runtime.Linear;
import io.moeprune.runtime.GptOssExperts;
import io.moeprune.runtime.PerExpertWeights;
import io.moeprune.runtime.RmsNorm;
import io.moeprune.runtime.Rope;
import io.moeprune.runtime.SwiGlu;
import io.moeprune.runtime.WeightSource;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Qwen3-MoE, Qwen2-MoE, OLMoE, Mixtral and GraniteMoE: grouped-query attention ({@code q_proj}, {@code k_proj},
 * {@code v_proj}, {@code o_proj}, optional biases and {@code q_norm}/{@code k_norm}) and one gate/up/down matrix
 * triple per expert (GraniteMoE: slices of fused 3-D tensors). Their differences (qk-norm kind, biases, shared experts, scoring) are data in the ModelSpec.
 */
public final class LlamaStyleFamily implements FamilyRuntime {
    public static final LlamaStyleFamily INSTANCE = new LlamaStyleFamily();

    private LlamaStyleFamily() {
    }

    @Override
    public AttentionLayer attention(ModelSpec spec, WeightSource w, int layer) {
        AttentionSpec a = spec.attention();
        if (a.kind() != AttentionSpec.Kind.GQA) {
            throw new MoepruneException(spec.family().modelType() + ": attention kind " + a.kind() + " is not supported");
        }
        String p = TensorNames.format(spec.names().attentionPrefix(), layer);
        if (!p.endsWith(".")) p = p + ".";
        Linear q = w.linear(p + "q_proj.weight", a.qkvBias() ? p + "q_proj.bias" : null);
        Linear k = w.linear(p + "k_proj.weight", a.qkvBias() ? p + "k_proj.bias" : null);
        Linear v = w.linear(p + "v_proj.weight", a.qkvBias() ? p + "v_proj.bias" : null);
        Linear o = w.linear(p + "o_proj.weight", a.outputBias() ? p + "o_proj.bias" : null);
        RmsNorm qNorm = null, kNorm = null;
        switch (a.qkNorm()) {
            case PER_HEAD -> {
                qNorm = new RmsNorm(w.vector(p + "q_norm.weight", a.headDim()), spec.rmsNormEps());
                kNorm = new RmsNorm(w.vector(p + "k_norm.weight", a.headDim()), spec.rmsNormEps());
            }
            case FULL -> {
                qNorm = new RmsNorm(w.vector(p + "q_norm.weight", a.numHeads() * a.headDim()), spec.rmsNormEps());
                kNorm = new RmsNorm(w.vector(p + "k_norm.weight", a.numKvHeads() * a.headDim()), spec.rmsNormEps());
            }
            case NONE -> {
            }
        }
        float scale = spec.scaling().overridesAttentionScale() ? spec.scaling().attention()
                : (float) (1.0 / Math.sqrt(a.headDim()));
        int window = spec.layers().get(layer).slidingWindow() ? a.slidingWindow() : 0;
        float[] sinks = a.sinks() ? w.vector(p + "sinks", a.numHeads()) : null;
        return new GqaAttention(a, q, k, v, o, qNorm, kNorm, Rope.of(spec.rope(), a.headDim()), scale, window, sinks);
    }

    @Override
    public ExpertWeights experts(ModelSpec spec, WeightSource w, int layer) {
        MoeSpec moe = spec.moe();
        if (moe.layout() == MoeSpec.ExpertLayout.FUSED_INPUT_OUTPUT) return fusedInputOutput(spec, w, layer);
        if (moe.layout() == MoeSpec.ExpertLayout.FUSED_GATE_UP_INTERLEAVED) return inputMajor(spec, w, layer);
        if (moe.layout() != MoeSpec.ExpertLayout.PER_EXPERT) {
            throw new MoepruneException(spec.family().modelType() + ": expert layout " + moe.layout() + " is not supported");
        }
        TensorNames n = spec.names();
        List<SwiGlu> experts = new ArrayList<>(moe.numExperts());
        for (int e = 0; e < moe.numExperts(); e++) {
            experts.add(new SwiGlu(w.matrix(TensorNames.format(n.expertGate(), layer, e)),
                    w.matrix(TensorNames.format(n.expertUp(), layer, e)),
                    w.matrix(TensorNames.format(n.expertDown(), layer, e))));
        }
        return new PerExpertWeights(List.copyOf(experts));
    }

    /**
     * gpt-oss: gate_up_proj [E, H, 2I] (gate and up interleaved) and down_proj [E, I, H], input-major, with biases; or,
     * in MXFP4 checkpoints, their transposes as {@code *_blocks} [E, 2I, H/32, 16] / {@code *_scales} [E, 2I, H/32]
     * (and [E, H, I/32, 16] / [E, H, I/32]). Slices stay views into the mapped tensors.
     */
    private static ExpertWeights inputMajor(ModelSpec spec, WeightSource w, int layer) {
        TensorNames n = spec.names();
        MoeSpec moe = spec.moe();
        int experts = moe.numExperts(), hidden = spec.hiddenSize(), inter = moe.expertIntermediateSize();
        String gateUpName = TensorNames.format(n.expertGate(), layer), downName = TensorNames.format(n.expertDown(), layer);
        float[] guBias = w.vector(TensorNames.format(n.expertGateUpBias(), layer), experts * 2 * inter);
        float[] dnBias = w.vector(TensorNames.format(n.expertDownBias(), layer), experts * hidden);
        MoeSpec.Activation act = moe.activation();
        if (w.has(gateUpName + "_blocks")) {
            Mxfp4Matrix[] gu = mxfp4Slices(w, gateUpName, experts, 2L * inter, hidden);
            Mxfp4Matrix[] dn = mxfp4Slices(w, downName, experts, hidden, inter);
            return GptOssExperts.mxfp4(gu, guBias, dn, dnBias, act.alpha(), act.limit());
        }
        Tensor gateUp = w.tensor(gateUpName), down = w.tensor(downName);
        expectShape(gateUp, experts, hidden, 2L * inter);
        expectShape(down, experts, inter, hidden);
        Weights[] gu = new Weights[experts], dn = new Weights[experts];
        for (int e = 0; e < experts; e++) {
            gu[e] = Weights.slice(gateUp, e);
            dn[e] = Weights.slice(down, e);
        }
        return GptOssExperts.inputMajor(gu, guBias, dn, dnBias, act.alpha(), act.limit());
    }

    /** Each expert's MXFP4 matrix [rows, cols] of the pair {@code name_blocks} / {@code name_scales}. */
    private static Mxfp4Matrix[] mxfp4Slices(WeightSource w, String name, int experts, long rows, int cols) {
        Tensor blocks = w.tensor(name + "_blocks"), scales = w.tensor(name + "_scales");
        if (cols % Mxfp4Matrix.GROUP != 0) {
            throw MoepruneException.inFile(blocks.file(), "tensor '" + blocks.name() + "': " + cols
                    + " inputs are not whole MXFP4 groups of 32");
        }
        int groups = cols / Mxfp4Matrix.GROUP;
        expectShape(blocks, experts, rows, groups, Mxfp4Matrix.GROUP_BYTES);
        expectShape(scales, experts, rows, groups);
        Mxfp4Matrix[] slices = new Mxfp4Matrix[experts];
        for (int e = 0; e < experts; e++) slices[e] = Mxfp4Matrix.slice(blocks, scales, e);
        return slices;
    }

    private static void expectShape(Tensor t, long... shape) {
        if (!java.util.Arrays.equals(t.shape(), shape)) {
            throw MoepruneException.inFile(t.file(), "tensor '" + t.name() + "' has shape " + t.info().shapeString()
                    + ", expected " + java.util.Arrays.toString(shape));
        }
    }

    /**
     * GraniteMoE: input_linear [E, 2I, H] holds each expert's gate (first I rows) and up (last I rows) projections;
     * output_linear [E, H, I] its down projection. The slices stay views into the mapped tensor.
     */
    private static ExpertWeights fusedInputOutput(ModelSpec spec, WeightSource w, int layer) {
        TensorNames n = spec.names();
        Tensor in = w.tensor(TensorNames.format(n.expertGate(), layer));
        Tensor out = w.tensor(TensorNames.format(n.expertDown(), layer));
        List<SwiGlu> experts = new ArrayList<>(spec.moe().numExperts());
        for (int e = 0; e < spec.moe().numExperts(); e++) {
            Weights both = Weights.slice(in, e);
            int inter = both.rows() / 2;
            long half = (long) inter * both.cols() * both.dtype().byteSize();
            Weights gate = new Weights(both.data().asSlice(0, half), both.dtype(), inter, both.cols());
            Weights up = new Weights(both.data().asSlice(half, half), both.dtype(), inter, both.cols());
            experts.add(new SwiGlu(gate, up, Weights.slice(out, e)));
        }
        return new PerExpertWeights(List.copyOf(experts));
    }
}
