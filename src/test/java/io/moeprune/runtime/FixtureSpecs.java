package io.moeprune.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.model.AttentionSpec;
import io.moeprune.model.Family;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.RopeSpec;
import io.moeprune.model.TensorNames;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A minimal config.json reader for the four llama-style families, used by the runtime tests until the real
 * {@code ConfigReader} (h2-spec) is merged. Only the keys the fixtures and moe-tiny-7d use.
 */
final class FixtureSpecs {
    private FixtureSpecs() {
    }

    static ModelSpec read(Path dir) {
        JsonNode c;
        try {
            c = new ObjectMapper().readTree(Files.readString(dir.resolve("config.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Family family = Family.fromModelType(c.get("model_type").asText()).orElseThrow();
        int hidden = c.get("hidden_size").asInt();
        int heads = c.get("num_attention_heads").asInt();
        int kv = c.path("num_key_value_heads").asInt(heads);
        int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
        int layers = c.get("num_hidden_layers").asInt();
        Set<Integer> mlpOnly = new HashSet<>();
        c.path("mlp_only_layers").forEach(n -> mlpOnly.add(n.asInt()));
        int step = c.path("decoder_sparse_step").asInt(1);
        List<ModelSpec.LayerSpec> ls = new ArrayList<>();
        for (int l = 0; l < layers; l++) ls.add(new ModelSpec.LayerSpec(!mlpOnly.contains(l) && (l + 1) % step == 0, false));
        AttentionSpec.QkNorm qk = switch (family) {
            case QWEN3_MOE -> AttentionSpec.QkNorm.PER_HEAD;
            case OLMOE -> AttentionSpec.QkNorm.FULL;
            default -> AttentionSpec.QkNorm.NONE;
        };
        boolean bias = family == Family.QWEN2_MOE ? c.path("qkv_bias").asBoolean(true) : c.path("attention_bias").asBoolean(false);
        float clip = c.hasNonNull("clip_qkv") ? (float) c.get("clip_qkv").asDouble() : Float.NaN;
        AttentionSpec att = new AttentionSpec(AttentionSpec.Kind.GQA, heads, kv, headDim, headDim, qk, bias,
                family != Family.QWEN2_MOE && bias, 0, false, clip, null);
        JsonNode rp = c.path("rope_parameters");
        RopeSpec rope = new RopeSpec(rp.path("rope_type").asText("default"), rp.path("rope_theta").asDouble(10000),
                rp.path("factor").asDouble(1), 0, 32, 1, 0, 0, true, false, headDim,
                c.path("max_position_embeddings").asInt());
        int experts = c.hasNonNull("num_local_experts") ? c.get("num_local_experts").asInt() : c.get("num_experts").asInt();
        boolean mixtral = family == Family.MIXTRAL;
        int expertInter = mixtral || family == Family.OLMOE ? c.get("intermediate_size").asInt()
                : c.get("moe_intermediate_size").asInt();
        int shared = family == Family.QWEN2_MOE ? c.get("shared_expert_intermediate_size").asInt() : 0;
        MoeSpec moe = new MoeSpec(experts, c.get("num_experts_per_tok").asInt(), expertInter,
                mixtral ? MoeSpec.Scoring.SOFTMAX_TOPK : MoeSpec.Scoring.SOFTMAX,
                mixtral || c.path("norm_topk_prob").asBoolean(false), 1f, MoeSpec.Groups.NONE, false, false,
                shared > 0 ? 1 : 0, shared, shared > 0, MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU);
        String L = "model.layers.{L}.";
        String moeP = mixtral ? L + "block_sparse_moe." : L + "mlp.";
        String g = mixtral ? "w1" : "gate_proj", u = mixtral ? "w3" : "up_proj", d = mixtral ? "w2" : "down_proj";
        TensorNames names = new TensorNames("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                L + "input_layernorm.weight", L + "post_attention_layernorm.weight", moeP + "gate.weight", null, null,
                moeP + "experts.{E}." + g + ".weight", moeP + "experts.{E}." + u + ".weight",
                moeP + "experts.{E}." + d + ".weight", null, null,
                shared > 0 ? L + "mlp.shared_expert.gate_proj.weight" : null,
                shared > 0 ? L + "mlp.shared_expert.up_proj.weight" : null,
                shared > 0 ? L + "mlp.shared_expert.down_proj.weight" : null,
                shared > 0 ? L + "mlp.shared_expert_gate.weight" : null,
                L + "mlp.gate_proj.weight", L + "mlp.up_proj.weight", L + "mlp.down_proj.weight", L + "self_attn");
        return new ModelSpec(family, c.path("architectures").path(0).asText(), c.get("vocab_size").asInt(), hidden, ls,
                att, rope, moe, c.path("intermediate_size").asInt(), (float) c.get("rms_norm_eps").asDouble(),
                c.path("tie_word_embeddings").asBoolean(false), ModelSpec.Scaling.NONE, names,
                c.hasNonNull("num_local_experts") ? "num_local_experts" : "num_experts");
    }
}
