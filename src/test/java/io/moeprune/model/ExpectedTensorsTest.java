package io.moeprune.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.safetensors.SafetensorsFile;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ExpectedTensorsTest {

    static long[] shape(long... d) {
        return d;
    }

    @Test
    void qwen3MoeDenseAndMoeLayers() {
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.fixture("qwen3_moe"));
        assertArrayEquals(shape(96, 64), t.get("model.layers.1.mlp.gate_proj.weight").shape());
        assertNull(t.get("model.layers.1.mlp.gate.weight"));
        assertArrayEquals(shape(8, 64), t.get("model.layers.0.mlp.gate.weight").shape());
        assertArrayEquals(shape(64, 32), t.get("model.layers.2.mlp.experts.7.down_proj.weight").shape());
        assertArrayEquals(shape(16), t.get("model.layers.0.self_attn.q_norm.weight").shape());
        assertEquals(TensorCategory.ROUTED_EXPERTS, t.get("model.layers.2.mlp.experts.7.down_proj.weight").category());
        assertEquals(2, t.get("model.layers.2.mlp.experts.7.down_proj.weight").layer());
        assertTrue(t.containsKey("lm_head.weight"));
        assertFalse(ExpectedTensors.byName(ConfigReaderTest.fixture("qwen3_moe_f32")).containsKey("lm_head.weight"));
    }

    @Test
    void olmoeNormsCoverTheWholeProjection() {
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.fixture("olmoe"));
        assertArrayEquals(shape(64), t.get("model.layers.0.self_attn.q_norm.weight").shape());
        assertArrayEquals(shape(32), t.get("model.layers.0.self_attn.k_norm.weight").shape());
    }

    @Test
    void fp8ScalesMatchTheTransformersQuantiser() {
        ModelSpec s = ConfigReaderTest.fixture("deepseek_v3_fp8");
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(s);
        ExpectedTensor scale = t.get("model.layers.1.mlp.experts.3.gate_proj.weight_scale_inv");
        assertArrayEquals(shape(1, 1), scale.shape());
        assertTrue(scale.scalarAccepted());
        assertEquals(0, scale.parameters());
        assertNotNull(t.get("model.layers.0.self_attn.kv_b_proj.weight_scale_inv"));
        assertNull(t.get("model.layers.1.mlp.gate.weight_scale_inv"));     // routers stay unquantised
        assertNull(t.get("lm_head.weight_scale_inv"));
        assertNull(t.get("model.layers.0.self_attn.kv_a_layernorm.weight_scale_inv"));
    }

    @Test
    void fp8BlockGridRoundsUp() throws IOException {
        ObjectNode c = ConfigReaderTest.config("deepseek_v3_fp8");
        c.put("hidden_size", 300).put("moe_intermediate_size", 200);
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.parse(c));
        // the same block grid as the quantized/fp8.safetensors fixture: [200, 300] -> [2, 3]
        ExpectedTensor up = t.get("model.layers.1.mlp.experts.0.up_proj.weight_scale_inv");
        assertArrayEquals(shape(2, 3), up.shape());
        assertFalse(up.scalarAccepted());
        try (SafetensorsFile f = SafetensorsFile.open(ConfigReaderTest.FIXTURES.resolve("quantized/fp8.safetensors"))) {
            assertArrayEquals(f.tensors().get("model.layers.0.mlp.experts.0.up_proj.weight_scale_inv").shape(), up.shape());
        }
    }

    @Test
    void mxfp4ReplacesFusedExperts() throws IOException {
        ObjectNode c = ConfigReaderTest.config("gpt_oss");
        c.putObject("quantization_config").put("quant_method", "mxfp4");
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.parse(c));
        assertNull(t.get("model.layers.0.mlp.experts.gate_up_proj"));
        // [E, out = 2I, in / 32, 16] and [E, 2I, H / 32], as gpt-oss stores them
        assertArrayEquals(shape(8, 64, 2, 16), t.get("model.layers.0.mlp.experts.gate_up_proj_blocks").shape());
        assertArrayEquals(shape(8, 64, 2), t.get("model.layers.0.mlp.experts.gate_up_proj_scales").shape());
        assertArrayEquals(shape(8, 64, 1, 16), t.get("model.layers.0.mlp.experts.down_proj_blocks").shape());
        assertArrayEquals(shape(8, 64), t.get("model.layers.0.mlp.experts.gate_up_proj_bias").shape());
        // logical parameters unchanged by quantisation
        long plain = ExpectedTensors.of(ConfigReaderTest.fixture("gpt_oss")).stream().mapToLong(ExpectedTensor::parameters).sum();
        long quant = t.values().stream().mapToLong(ExpectedTensor::parameters).sum();
        assertEquals(plain, quant);
    }

    @Test
    void modulesToNotConvertAcceptsGlobs() throws IOException {
        ObjectNode c = ConfigReaderTest.config("gpt_oss");
        c.putObject("quantization_config").put("quant_method", "mxfp4").putArray("modules_to_not_convert")
                .add("model.layers.*.mlp.experts.down");
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.parse(c));
        assertNotNull(t.get("model.layers.2.mlp.experts.down_proj"));
        assertNotNull(t.get("model.layers.2.mlp.experts.gate_up_proj_blocks"));
    }

    @Test
    void mtpLayersAreIgnoredNotUnexpected() {
        ModelSpec s = ConfigReaderTest.fixture("deepseek_v3");
        assertEquals("multi-token-prediction layer", ExpectedTensors.ignoredReason(s, "model.layers.3.eh_proj.weight"));
        assertNull(ExpectedTensors.ignoredReason(s, "model.layers.4.eh_proj.weight"));
        assertNull(ExpectedTensors.ignoredReason(ConfigReaderTest.fixture("qwen3_moe"), "model.layers.3.mlp.gate.weight"));
        assertNull(ExpectedTensors.ignoredReason(ConfigReaderTest.fixture("qwen3_moe"), "lm_head.weight"));
        assertEquals("copy of the tied embedding", ExpectedTensors.ignoredReason(ConfigReaderTest.fixture("qwen3_moe_f32"), "lm_head.weight"));
        assertEquals("rotary buffer", ExpectedTensors.ignoredReason(ConfigReaderTest.fixture("mixtral"), "model.layers.0.self_attn.rotary_emb.inv_freq"));
    }

    @Test
    void gptOssFusedExpertsSinksAndRouterBias() {
        Map<String, ExpectedTensor> t = ExpectedTensors.byName(ConfigReaderTest.fixture("gpt_oss"));
        assertArrayEquals(shape(4), t.get("model.layers.0.self_attn.sinks").shape());
        assertArrayEquals(shape(8, 64, 64), t.get("model.layers.0.mlp.experts.gate_up_proj").shape());
        assertArrayEquals(shape(8, 32, 64), t.get("model.layers.0.mlp.experts.down_proj").shape());
        assertArrayEquals(shape(8), t.get("model.layers.0.mlp.router.bias").shape());
    }
}
