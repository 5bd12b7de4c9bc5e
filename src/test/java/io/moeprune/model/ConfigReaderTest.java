package io.moeprune.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.model.AttentionSpec.QkNorm;
import io.moeprune.model.MoeSpec.ExpertLayout;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.MoeSpec.Scoring;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ConfigReaderTest {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");
    static final ObjectMapper JSON = new ObjectMapper();

    static ModelSpec fixture(String name) {
        return ConfigReader.read(FIXTURES.resolve(name));
    }

    static ObjectNode config(String name) throws IOException {
        return (ObjectNode) JSON.readTree(FIXTURES.resolve(name).resolve("config.json").toFile());
    }

    static ModelSpec parse(JsonNode config) {
        return ConfigReader.parse(config.toString(), Path.of("test/config.json"));
    }

    /** The values every family spells the same way, checked against the file itself. */
    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2", "deepseek_v3",
            "deepseek_v3_fp8", "gpt_oss", "gpt_oss_mxfp4", "granitemoe"})
    void commonValuesComeFromConfigJson(String name) throws IOException {
        JsonNode c = config(name);
        ModelSpec s = fixture(name);
        assertEquals(c.get("model_type").asText(), s.family().modelType());
        assertEquals(c.get("architectures").get(0).asText(), s.architecture());
        assertEquals(c.get("vocab_size").asInt(), s.vocabSize());
        assertEquals(c.get("hidden_size").asInt(), s.hiddenSize());
        assertEquals(c.get("num_hidden_layers").asInt(), s.numLayers());
        assertEquals(c.get("num_attention_heads").asInt(), s.attention().numHeads());
        assertEquals(c.get("num_experts_per_tok").asInt(), s.moe().topK());
        assertEquals(c.get(s.expertCountKey()).asInt(), s.moe().numExperts());
        assertEquals(c.get("tie_word_embeddings").asBoolean(), s.tieWordEmbeddings());
        assertEquals((float) c.get("rms_norm_eps").asDouble(), s.rmsNormEps());
        assertEquals(c.get("rope_parameters").get("rope_theta").asDouble(), s.rope().theta());
        assertEquals(c.get("rope_parameters").get("rope_type").asText(), s.rope().type());
        assertEquals(c.get("max_position_embeddings").asInt(), s.rope().maxPositions());
        if (s.attention().kind() == AttentionSpec.Kind.GQA) {
            assertEquals(c.get("num_key_value_heads").asInt(), s.attention().numKvHeads());
        }
        if (c.has("norm_topk_prob")) assertEquals(c.get("norm_topk_prob").asBoolean(), s.moe().normTopkProb());
        // reference.json lists the MoE layers transformers instantiated a router for.
        Path ref = FIXTURES.resolve(name).resolve("reference.json");
        if (Files.exists(ref)) {
            List<Integer> moe = JSON.convertValue(JSON.readTree(ref.toFile()).get("moe_layers"),
                    JSON.getTypeFactory().constructCollectionType(List.class, Integer.class));
            assertEquals(moe, s.moeLayers());
        }
    }

    @Test
    void qwen3Moe() {
        ModelSpec s = fixture("qwen3_moe");
        assertEquals(Family.QWEN3_MOE, s.family());
        assertEquals(List.of(0, 2), s.moeLayers());   // mlp_only_layers [1]
        assertEquals(96, s.denseIntermediateSize());
        MoeSpec m = s.moe();
        assertEquals(new MoeSpec(8, 2, 32, Scoring.SOFTMAX, true, 1f, Groups.NONE, false, false, 0, 0, false,
                ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU), m);
        assertEquals("num_local_experts", s.expertCountKey());
        assertEquals(new AttentionSpec(AttentionSpec.Kind.GQA, 4, 2, 16, 16, QkNorm.PER_HEAD, false, false, 0, false,
                Float.NaN, null), s.attention());
        assertEquals(new RopeSpec("default", 10000, 1, 0, 32, 1, 0, 0, true, false, 16, 256), s.rope());
        assertEquals(Quantization.NONE, s.quantization());
        assertEquals(ModelSpec.Scaling.NONE, s.scaling());
        assertEquals("model.layers.3.mlp.experts.5.down_proj.weight", TensorNames.format(s.names().expertDown(), 3, 5));
        assertEquals("model.layers.3.mlp.gate.weight", TensorNames.format(s.names().routerWeight(), 3));
    }

    @Test
    void qwen3MoeF32IsTiedTop3WithoutRenormalisation() {
        ModelSpec s = fixture("qwen3_moe_f32");
        assertTrue(s.tieWordEmbeddings());
        assertEquals(3, s.moe().topK());
        assertFalse(s.moe().normTopkProb());
        assertEquals(List.of(0, 1, 2), s.moeLayers());
        assertEquals(1e6, s.rope().theta());
    }

    @Test
    void qwen2MoeHasGatedSharedExpertAndQkvBias() {
        ModelSpec s = fixture("qwen2_moe");
        MoeSpec m = s.moe();
        assertEquals(1, m.sharedExperts());
        assertEquals(48, m.sharedIntermediateSize());
        assertTrue(m.sharedExpertGate());
        assertFalse(m.normTopkProb());
        assertEquals(Scoring.SOFTMAX, m.scoring());
        assertTrue(s.attention().qkvBias());
        assertFalse(s.attention().outputBias());
        assertEquals(QkNorm.NONE, s.attention().qkNorm());
        assertEquals("num_experts", s.expertCountKey());
        assertEquals("model.layers.0.mlp.shared_expert_gate.weight", TensorNames.format(s.names().sharedExpertGate(), 0));
    }

    @Test
    void olmoeNormalisesQueriesAndKeysOverAllHeads() {
        ModelSpec s = fixture("olmoe");
        assertEquals(QkNorm.FULL, s.attention().qkNorm());
        assertTrue(Float.isNaN(s.attention().clipQkv()));   // clip_qkv: null
        assertEquals(32, s.moe().expertIntermediateSize());
        assertEquals(Scoring.SOFTMAX, s.moe().scoring());
        assertEquals("num_experts", s.expertCountKey());
        assertEquals(List.of(0, 1, 2), s.moeLayers());
    }

    @Test
    void mixtralRenormalisesTopK() {
        ModelSpec s = fixture("mixtral");
        assertEquals(Scoring.SOFTMAX_TOPK, s.moe().scoring());
        assertTrue(s.moe().normTopkProb());
        assertEquals(16, s.attention().headDim());    // head_dim null -> hidden / heads
        assertEquals(0, s.attention().slidingWindow());
        assertEquals(1e6, s.rope().theta());
        assertEquals("model.layers.1.block_sparse_moe.experts.7.w1.weight", TensorNames.format(s.names().expertGate(), 1, 7));
        assertEquals("model.layers.1.block_sparse_moe.experts.7.w3.weight", TensorNames.format(s.names().expertUp(), 1, 7));
        assertEquals("model.layers.1.block_sparse_moe.experts.7.w2.weight", TensorNames.format(s.names().expertDown(), 1, 7));
        assertEquals("num_local_experts", s.expertCountKey());
    }

    @Test
    void deepseekV2GroupLimitedGreedyWithoutQueryLora() {
        ModelSpec s = fixture("deepseek_v2");
        MoeSpec m = s.moe();
        assertEquals(new MoeSpec(8, 2, 32, Scoring.SOFTMAX, false, 16f, new Groups(4, 2, Groups.GroupScore.MAX),
                false, false, 1, 32, false, ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU), m);
        assertEquals(List.of(1, 2), s.moeLayers());
        assertEquals(96, s.denseIntermediateSize());
        assertEquals(new AttentionSpec.Mla(0, 32, 16, 8, 16), s.attention().mla());
        assertEquals(AttentionSpec.Kind.MLA, s.attention().kind());
        assertEquals(24, s.attention().headDim());
        assertEquals(16, s.attention().valueHeadDim());
        assertTrue(s.rope().interleaved());
        assertEquals(8, s.rope().rotaryDim());
        assertEquals("n_routed_experts", s.expertCountKey());
        assertNull(s.names().selectionBias());
    }

    @Test
    void deepseekV2GreedyHasNoGroups() throws IOException {
        ObjectNode c = config("deepseek_v2");
        c.put("topk_method", "greedy");
        assertEquals(Groups.NONE, parse(c).moe().groups());
    }

    @Test
    void deepseekV3SigmoidNoauxTc() {
        ModelSpec s = fixture("deepseek_v3");
        assertEquals(new MoeSpec(16, 4, 32, Scoring.SIGMOID, true, 2.5f, new Groups(4, 2, Groups.GroupScore.SUM_TOP2),
                true, false, 1, 32, false, ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU), s.moe());
        assertEquals(new AttentionSpec.Mla(48, 32, 16, 8, 16), s.attention().mla());
        assertTrue(s.rope().interleaved());
        assertEquals(1, s.mtpLayers());
        assertEquals("model.layers.2.mlp.gate.e_score_correction_bias", TensorNames.format(s.names().selectionBias(), 2));
        assertEquals("model.layers.2.mlp.shared_experts.up_proj.weight", TensorNames.format(s.names().sharedUp(), 2));
    }

    @Test
    void deepseekV3Fp8ReadsBlockSize() {
        ModelSpec s = fixture("deepseek_v3_fp8");
        assertEquals(Quantization.Method.FP8, s.quantization().method());
        assertEquals(128, s.quantization().blockRows());
        assertEquals(128, s.quantization().blockCols());
        assertEquals(fixture("deepseek_v3").moe(), s.moe());
    }

    @Test
    void gptOss() {
        ModelSpec s = fixture("gpt_oss");
        MoeSpec m = s.moe();
        assertEquals(Scoring.SOFTMAX_TOPK, m.scoring());
        assertTrue(m.routerBias());
        assertEquals(ExpertLayout.FUSED_GATE_UP_INTERLEAVED, m.layout());
        assertEquals(new MoeSpec.Activation(MoeSpec.Activation.Kind.CLAMPED_SWIGLU, 1.702f, 7f), m.activation());
        AttentionSpec a = s.attention();
        assertTrue(a.sinks());
        assertTrue(a.qkvBias());
        assertTrue(a.outputBias());
        assertEquals(8, a.slidingWindow());
        assertEquals(List.of(true, false, true), s.layers().stream().map(ModelSpec.LayerSpec::slidingWindow).toList());
        assertEquals(new RopeSpec("yarn", 150000, 32, 4096, 32, 1, 0, 0, false, false, 16, 256), s.rope());
        assertEquals("model.layers.0.mlp.experts.gate_up_proj", TensorNames.format(s.names().expertGate(), 0));
        assertNull(s.names().expertUp());
        assertEquals("model.layers.0.mlp.router.bias", TensorNames.format(s.names().routerBias(), 0));
    }

    @Test
    void graniteMoeMultipliers() {
        ModelSpec s = fixture("granitemoe");
        assertEquals(new ModelSpec.Scaling(12f, 0.22f, 8f, 0.0625f), s.scaling());
        assertTrue(s.scaling().overridesAttentionScale());
        assertEquals(ExpertLayout.FUSED_INPUT_OUTPUT, s.moe().layout());
        assertEquals(Scoring.SOFTMAX_TOPK, s.moe().scoring());
        assertEquals("model.layers.2.block_sparse_moe.router.layer.weight", TensorNames.format(s.names().routerWeight(), 2));
        assertEquals("model.layers.2.block_sparse_moe.input_linear.weight", TensorNames.format(s.names().expertGate(), 2));
    }

    // ---- old spellings ----

    /** Turns transformers 5's rope_parameters into the older rope_theta (+ rope_scaling) spelling. */
    static ObjectNode oldRope(ObjectNode c) {
        ObjectNode rp = (ObjectNode) c.remove("rope_parameters");
        c.set("rope_theta", rp.remove("rope_theta"));
        String type = rp.remove("rope_type").asText();
        if (!type.equals("default")) {
            rp.put("type", type);
            c.set("rope_scaling", rp);
        }
        return c;
    }

    static void assertSameModel(ModelSpec a, ModelSpec b) {
        assertEquals(a.family(), b.family());
        assertEquals(a.layers(), b.layers());
        assertEquals(a.attention(), b.attention());
        assertEquals(a.rope(), b.rope());
        assertEquals(a.moe(), b.moe());
        assertEquals(a.denseIntermediateSize(), b.denseIntermediateSize());
        assertEquals(a.names(), b.names());
        assertEquals(a.scaling(), b.scaling());
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2", "deepseek_v3", "gpt_oss", "granitemoe"})
    void oldRopeSpellingParsesTheSame(String name) throws IOException {
        assertSameModel(fixture(name), parse(oldRope(config(name))));
    }

    @Test
    void qwen3WithNumExpertsParsesTheSame() throws IOException {
        ObjectNode c = oldRope(config("qwen3_moe"));
        c.set("num_experts", c.remove("num_local_experts"));
        ModelSpec s = parse(c);
        assertSameModel(fixture("qwen3_moe"), s);
        assertEquals("num_experts", s.expertCountKey());
    }

    @Test
    void mixtralWithNumExpertsUsesThatKey() throws IOException {
        ObjectNode c = config("mixtral");
        c.set("num_experts", c.remove("num_local_experts"));
        assertEquals("num_experts", parse(c).expertCountKey());
        assertEquals(8, parse(c).moe().numExperts());
    }

    @Test
    void gptOssOriginalSpellings() throws IOException {
        ObjectNode c = oldRope(config("gpt_oss"));
        c.set("experts_per_token", c.remove("num_experts_per_tok"));
        assertSameModel(fixture("gpt_oss"), parse(c));
    }

    @Test
    void oldYarnRopeScalingOfDeepseek() throws IOException {
        ObjectNode c = config("deepseek_v3");
        c.remove("rope_parameters");
        c.put("rope_theta", 10000.0);
        ObjectNode rs = c.putObject("rope_scaling");
        rs.put("type", "yarn").put("factor", 40.0).put("original_max_position_embeddings", 4096).put("beta_fast", 32)
                .put("beta_slow", 1).put("mscale", 1.0).put("mscale_all_dim", 1.0);
        RopeSpec r = parse(c).rope();
        assertEquals(new RopeSpec("yarn", 10000, 40, 4096, 32, 1, 1, 1, true, true, 8, 256), r);
    }

    @Test
    void qwenDecoderSparseStepAndZeroExperts() throws IOException {
        ObjectNode c = config("qwen2_moe");
        c.put("decoder_sparse_step", 2);
        assertEquals(List.of(1), parse(c).moeLayers());
        c.put("num_experts", 0);
        ModelSpec dense = parse(c);
        assertEquals(List.of(), dense.moeLayers());
        assertEquals(96, dense.denseIntermediateSize());
    }

    @Test
    void deepseekMoeLayerFreq() throws IOException {
        ObjectNode c = config("deepseek_v3");
        c.put("num_hidden_layers", 6).put("first_k_dense_replace", 1).put("moe_layer_freq", 2);
        assertEquals(List.of(2, 4), parse(c).moeLayers());
    }

    @Test
    void mxfp4QuantizationConfig() throws IOException {
        ObjectNode c = config("gpt_oss");
        c.putObject("quantization_config").put("quant_method", "mxfp4").putArray("modules_to_not_convert")
                .add("model.layers.*.self_attn").add("lm_head");
        Quantization q = parse(c).quantization();
        assertEquals(Quantization.Method.MXFP4, q.method());
        assertEquals(List.of("model.layers.*.self_attn", "lm_head"), q.modulesToNotConvert());
    }

    // ---- bad input: one line naming the file ----

    static String error(String json) {
        MoepruneException e = assertThrows(MoepruneException.class, () -> ConfigReader.parse(json, Path.of("m/config.json")));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith("m/config.json: "), e.getMessage());
        return e.getMessage();
    }

    @Test
    void unknownArchitectureListsSupportedOnes() {
        String msg = error("{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"]}");
        assertTrue(msg.contains("unsupported model (model_type 'llama', architecture 'LlamaForCausalLM')"), msg);
        assertTrue(msg.contains(Family.supportedList()), msg);
    }

    @Test
    void architectureAloneIdentifiesTheFamily() throws IOException {
        ObjectNode c = config("olmoe");
        c.remove("model_type");
        assertEquals(Family.OLMOE, parse(c).family());
    }

    @Test
    void badValuesAreOneLineErrors() throws IOException {
        assertEquals("m/config.json: not valid JSON: Unexpected character ('n' (code 110)): was expecting double-quote to start field name",
                error("{not json"));
        assertEquals("m/config.json: not a JSON object", error("[1,2]"));
        ObjectNode c = config("qwen3_moe");
        c.remove("hidden_size");
        assertEquals("m/config.json: missing required key 'hidden_size'", error(c.toString()));
        c = config("qwen3_moe");
        c.remove("num_local_experts");
        assertEquals("m/config.json: missing required key 'num_experts' or 'num_local_experts' or 'n_routed_experts'",
                error(c.toString()));
        c = config("qwen3_moe");
        c.put("num_experts_per_tok", 9);
        assertEquals("m/config.json: 'num_experts_per_tok' is 9; it must be between 1 and the 8 experts", error(c.toString()));
        c = config("qwen3_moe");
        c.put("hidden_size", "big");
        assertEquals("m/config.json: 'hidden_size' must be an integer, not \"big\"", error(c.toString()));
        c = config("deepseek_v3");
        c.put("n_group", 3);
        assertEquals("m/config.json: 'n_group' is 3; it must divide the 16 routed experts", error(c.toString()));
        c = config("deepseek_v3");
        c.putObject("quantization_config").put("quant_method", "gptq");
        assertEquals("m/config.json: 'quantization_config.quant_method' is 'gptq'; supported: fp8, mxfp4", error(c.toString()));
    }

    @Test
    void missingDirectoryAndConfig(@TempDir Path tmp) {
        var e = assertThrows(MoepruneException.class, () -> ConfigReader.read(tmp.resolve("nope")));
        assertEquals(tmp.resolve("nope") + ": model directory not found", e.getMessage());
        e = assertThrows(MoepruneException.class, () -> ConfigReader.read(tmp));
        assertEquals(tmp.resolve("config.json") + ": missing (every model directory needs a config.json)", e.getMessage());
    }

    @Test
    void hostileNumbersAreRefusedBeforeAnythingIsAllocated() throws IOException {
        ObjectNode c = config("qwen3_moe");
        c.put("num_hidden_layers", Integer.MAX_VALUE);
        assertEquals("m/config.json: 'num_hidden_layers' is 2147483647; it must be between 1 and 4096", error(c.toString()));
        c = config("mixtral");
        c.put("num_local_experts", 1_000_000);
        assertEquals("m/config.json: 'num_local_experts' is 1000000; it must be between 0 and 16384", error(c.toString()));
        c = config("mixtral");
        c.put("num_local_experts", 16384);
        c.put("num_hidden_layers", 4096);
        assertTrue(error(c.toString()).contains("more than 131072 experts in all"));
        c = config("qwen3_moe");
        c.put("vocab_size", 1e300);
        assertEquals("m/config.json: 'vocab_size' is out of range: 1.0E300", error(c.toString()));
        c = config("qwen3_moe");
        c.put("rms_norm_eps", -1);
        assertTrue(error(c.toString()).startsWith("m/config.json: 'rms_norm_eps' is -1.0; it must be between"));
        c = config("qwen3_moe");
        c.put("rms_norm_eps", 0);
        assertTrue(error(c.toString()).contains("'rms_norm_eps' is 0.0"));
        c = config("qwen3_moe");
        c.put("moe_intermediate_size", 1 << 21);
        assertEquals("m/config.json: 'moe_intermediate_size' is 2097152; it must be between 1 and 1048576", error(c.toString()));
        c = config("qwen3_moe");
        c.put("hidden_size", "x".repeat(1000));
        assertTrue(error(c.toString()).length() < 150, "a huge value is cut short");
    }

    @Test
    void unknownRopeTypeNamesConfigJson() throws IOException {
        ObjectNode c = config("qwen3_moe");
        c.putObject("rope_parameters").put("rope_type", "bogus").put("rope_theta", 10000);
        assertEquals("m/config.json: 'rope_parameters.rope_type' is 'bogus', which is not a rope type "
                + "(known: default, dynamic, linear, llama3, longrope, mrope, yarn)", error(c.toString()));
        c = config("qwen3_moe");
        c.put("model_type", "a\nb");
        c.remove("architectures");
        assertFalse(error(c.toString()).contains("\n"));
    }

    @Test
    void nonUtf8ConfigNamesTheFile(@TempDir Path tmp) throws IOException {
        java.nio.file.Files.write(tmp.resolve("config.json"), new byte[]{'{', '"', (byte) 0xff, '"', ':', '1', '}'});
        var e = assertThrows(MoepruneException.class, () -> ConfigReader.read(tmp));
        assertEquals(tmp.resolve("config.json") + ": not valid UTF-8", e.getMessage());
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
    }
}
