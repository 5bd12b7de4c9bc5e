package io.moeprune.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.moeprune.model.TensorCategory.*;

/**
 * Every tensor name and shape that a checkpoint of a {@link ModelSpec} implies, in checkpoint order (embeddings,
 * layer by layer, final norm, LM head). Shapes follow PyTorch {@code nn.Linear}: [out, in].
 *
 * <p>Quantised checkpoints: with FP8 each linear weight of attention and MLPs (not embeddings, LM head, router,
 * norms or modules the config excludes) has a {@code .weight_scale_inv} companion of
 * [ceil(out/blockRows), ceil(in/blockCols)]; with MXFP4 (gpt-oss) the fused expert tensors {@code gate_up_proj}
 * and {@code down_proj} are replaced by {@code _blocks} and {@code _scales} (see {@link Quantization}).
 */
public final class ExpectedTensors {
    private static final Pattern LAYER = Pattern.compile("^model\\.layers\\.(\\d+)\\.");

    private final ModelSpec spec;
    private final List<ExpectedTensor> out = new ArrayList<>();

    private ExpectedTensors(ModelSpec spec) {
        this.spec = spec;
    }

    public static List<ExpectedTensor> of(ModelSpec spec) {
        ExpectedTensors e = new ExpectedTensors(spec);
        e.build();
        return Collections.unmodifiableList(e.out);
    }

    /** The expected tensors by name. */
    public static Map<String, ExpectedTensor> byName(ModelSpec spec) {
        Map<String, ExpectedTensor> m = new LinkedHashMap<>();
        for (ExpectedTensor t : of(spec)) m.put(t.name(), t);
        return m;
    }

    /**
     * Why a checkpoint tensor that the causal LM does not use is nonetheless legitimate, or null when it is not:
     * DeepSeek-V3 multi-token-prediction layers (stored as layers num_hidden_layers..+num_nextn_predict_layers-1,
     * which transformers skips on load), rotary {@code inv_freq} buffers of older checkpoints and an LM head saved
     * although the embeddings are tied (transformers ignores it).
     */
    public static String ignoredReason(ModelSpec spec, String name) {
        if (name.endsWith(".rotary_emb.inv_freq")) return "rotary buffer";
        if (spec.tieWordEmbeddings() && name.equals(spec.names().lmHead())) return "copy of the tied embedding";
        Matcher m = LAYER.matcher(name);
        if (m.find() && spec.mtpLayers() > 0) {
            long layer = Long.parseLong(m.group(1));
            if (layer >= spec.numLayers() && layer < (long) spec.numLayers() + spec.mtpLayers()) {
                return "multi-token-prediction layer";
            }
        }
        return null;
    }

    private void build() {
        TensorNames n = spec.names();
        long v = spec.vocabSize(), h = spec.hiddenSize();
        plain(n.embed(), -1, EMBEDDINGS_HEAD, v, h);
        for (int l = 0; l < spec.numLayers(); l++) {
            plain(TensorNames.format(n.inputNorm(), l), l, NORMS, h);
            attention(l);
            plain(TensorNames.format(n.postAttentionNorm(), l), l, NORMS, h);
            if (spec.isMoeLayer(l)) moe(l);
            else mlp(l, DENSE_MLP, n.denseGate(), n.denseUp(), n.denseDown(), spec.denseIntermediateSize());
        }
        plain(n.finalNorm(), -1, NORMS, h);
        if (!spec.tieWordEmbeddings()) plain(n.lmHead(), -1, EMBEDDINGS_HEAD, v, h);
    }

    private void attention(int l) {
        AttentionSpec a = spec.attention();
        String p = TensorNames.format(spec.names().attentionPrefix(), l);
        long h = spec.hiddenSize();
        if (a.kind() == AttentionSpec.Kind.MLA) {
            AttentionSpec.Mla m = a.mla();
            long heads = a.numHeads();
            if (m.qLoraRank() > 0) {
                linear(p + "q_a_proj", l, ATTENTION, m.qLoraRank(), h, a.qkvBias());
                plain(p + "q_a_layernorm.weight", l, NORMS, m.qLoraRank());
                linear(p + "q_b_proj", l, ATTENTION, heads * (m.qkNopeHeadDim() + m.qkRopeHeadDim()), m.qLoraRank(), false);
            } else {
                linear(p + "q_proj", l, ATTENTION, heads * (m.qkNopeHeadDim() + m.qkRopeHeadDim()), h, false);
            }
            linear(p + "kv_a_proj_with_mqa", l, ATTENTION, m.kvLoraRank() + m.qkRopeHeadDim(), h, a.qkvBias());
            plain(p + "kv_a_layernorm.weight", l, NORMS, m.kvLoraRank());
            linear(p + "kv_b_proj", l, ATTENTION, heads * (m.qkNopeHeadDim() + m.vHeadDim()), m.kvLoraRank(), false);
            linear(p + "o_proj", l, ATTENTION, h, heads * m.vHeadDim(), a.outputBias());
            return;
        }
        long q = (long) a.numHeads() * a.headDim(), kv = (long) a.numKvHeads() * a.headDim();
        linear(p + "q_proj", l, ATTENTION, q, h, a.qkvBias());
        linear(p + "k_proj", l, ATTENTION, kv, h, a.qkvBias());
        linear(p + "v_proj", l, ATTENTION, (long) a.numKvHeads() * a.valueHeadDim(), h, a.qkvBias());
        linear(p + "o_proj", l, ATTENTION, h, (long) a.numHeads() * a.valueHeadDim(), a.outputBias());
        switch (a.qkNorm()) {
            case PER_HEAD -> {
                plain(p + "q_norm.weight", l, NORMS, a.headDim());
                plain(p + "k_norm.weight", l, NORMS, a.headDim());
            }
            case FULL -> {
                plain(p + "q_norm.weight", l, NORMS, q);
                plain(p + "k_norm.weight", l, NORMS, kv);
            }
            case NONE -> {
            }
        }
        if (a.sinks()) plain(p + "sinks", l, ATTENTION, a.numHeads());
    }

    private void moe(int l) {
        TensorNames n = spec.names();
        MoeSpec m = spec.moe();
        long h = spec.hiddenSize(), e = m.numExperts(), i = m.expertIntermediateSize();
        plain(TensorNames.format(n.routerWeight(), l), l, ROUTER, e, h);
        if (m.routerBias()) plain(TensorNames.format(n.routerBias(), l), l, ROUTER, e);
        // A buffer, not a parameter, in transformers (updated by a balancing rule, not by gradients).
        if (m.selectionBias()) add(TensorNames.format(n.selectionBias(), l), l, ROUTER, 0, false, e);
        switch (m.layout()) {
            case PER_EXPERT -> {
                for (int x = 0; x < e; x++) {
                    weight(TensorNames.format(n.expertGate(), l, x), l, ROUTED_EXPERTS, i, h);
                    weight(TensorNames.format(n.expertUp(), l, x), l, ROUTED_EXPERTS, i, h);
                    weight(TensorNames.format(n.expertDown(), l, x), l, ROUTED_EXPERTS, h, i);
                }
            }
            case FUSED_GATE_UP_INTERLEAVED -> {
                // gpt-oss stores [E, in, out]; MXFP4 stores the transposed [E, out, in/32, 16].
                fusedExperts(TensorNames.format(n.expertGate(), l), l, e, h, 2 * i);
                plain(TensorNames.format(n.expertGateUpBias(), l), l, ROUTED_EXPERTS, e, 2 * i);
                fusedExperts(TensorNames.format(n.expertDown(), l), l, e, i, h);
                plain(TensorNames.format(n.expertDownBias(), l), l, ROUTED_EXPERTS, e, h);
            }
            case FUSED_INPUT_OUTPUT -> {
                plain(TensorNames.format(n.expertGate(), l), l, ROUTED_EXPERTS, e, 2 * i, h);
                plain(TensorNames.format(n.expertDown(), l), l, ROUTED_EXPERTS, e, h, i);
            }
        }
        if (m.sharedExperts() > 0) {
            mlp(l, SHARED_EXPERTS, n.sharedGate(), n.sharedUp(), n.sharedDown(), m.sharedIntermediateSize());
            if (m.sharedExpertGate()) plain(TensorNames.format(n.sharedExpertGate(), l), l, ROUTER, 1, h);
        }
    }

    private void mlp(int l, TensorCategory cat, String gate, String up, String down, long inter) {
        long h = spec.hiddenSize();
        weight(TensorNames.format(gate, l), l, cat, inter, h);
        weight(TensorNames.format(up, l), l, cat, inter, h);
        weight(TensorNames.format(down, l), l, cat, h, inter);
    }

    /** A gpt-oss fused expert tensor [E, in, out], or its MXFP4 blocks and scales. */
    private void fusedExperts(String name, int l, long e, long in, long outDim) {
        if (spec.quantization().method() == Quantization.Method.MXFP4 && !excluded(name)) {
            long groups = ceilDiv(in, Quantization.MXFP4_GROUP);
            add(name + "_blocks", l, ROUTED_EXPERTS, e * outDim * in, false, e, outDim, groups, 16);
            add(name + "_scales", l, ROUTED_EXPERTS, 0, false, e, outDim, groups);
        } else {
            plain(name, l, ROUTED_EXPERTS, e, in, outDim);
        }
    }

    /** A linear layer: weight (with FP8 companion when quantised) and optional bias. */
    private void linear(String prefix, int l, TensorCategory cat, long outDim, long in, boolean bias) {
        weight(prefix + ".weight", l, cat, outDim, in);
        if (bias) plain(prefix + ".bias", l, cat, outDim);
    }

    /** A 2-D linear weight; under FP8 also its block scale. */
    private void weight(String name, int l, TensorCategory cat, long outDim, long in) {
        plain(name, l, cat, outDim, in);
        Quantization q = spec.quantization();
        if (q.method() == Quantization.Method.FP8 && !excluded(name)) {
            long r = ceilDiv(outDim, q.blockRows()), c = ceilDiv(in, q.blockCols());
            add(name + "_scale_inv", l, cat, 0, r == 1 && c == 1, r, c);
        }
    }

    /**
     * transformers skips a module when a modules_to_not_convert entry is a substring of its name; gpt-oss configs
     * also use globs such as {@code model.layers.*.self_attn}.
     */
    private boolean excluded(String name) {
        for (String s : spec.quantization().modulesToNotConvert()) {
            if (s.contains("*")) {
                String regex = ".*" + java.util.Arrays.stream(s.split("\\*", -1)).map(Pattern::quote)
                        .collect(java.util.stream.Collectors.joining(".*")) + ".*";
                if (name.matches(regex)) return true;
            } else if (name.contains(s)) {
                return true;
            }
        }
        return false;
    }

    private void plain(String name, int l, TensorCategory cat, long... shape) {
        long count = 1;
        for (long d : shape) count = Math.multiplyExact(count, d);
        add(name, l, cat, count, false, shape);
    }

    private void add(String name, int l, TensorCategory cat, long params, boolean scalarOk, long... shape) {
        out.add(new ExpectedTensor(name, shape, cat, l, params, scalarOk));
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
