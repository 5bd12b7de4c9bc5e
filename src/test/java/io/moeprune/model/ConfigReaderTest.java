package io.moeprune.model;

import io.moeprune.MoepruneException;
import io.moeprune.model.MoeSpec.ExpertLayout;
import io.moeprune.model.MoeSpec.Scoring;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ConfigReaderTest {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");

    static ModelSpec fixture(String name) {
        return ConfigReader.read(FIXTURES.resolve(name));
    }

    @Test
    void qwen3MoeWithDenseLayer() {
        ModelSpec s = fixture("qwen3_moe");
        assertEquals(Family.QWEN3_MOE, s.family());
        assertEquals("Qwen3MoeForCausalLM", s.architecture());
        assertEquals(3, s.numLayers());
        assertEquals(List.of(0, 2), s.moeLayers());
        assertEquals(96, s.denseIntermediateSize());
        MoeSpec m = s.moe();
        assertEquals(8, m.numExperts());
        assertEquals(2, m.topK());
        assertEquals(32, m.expertIntermediateSize());
        assertEquals(Scoring.SOFTMAX, m.scoring());
        assertTrue(m.normTopkProb());
        assertEquals(0, m.sharedExperts());
        assertEquals("num_local_experts", s.expertCountKey());
        AttentionSpec a = s.attention();
        assertEquals(4, a.numHeads());
        assertEquals(2, a.numKvHeads());
        assertEquals(16, a.headDim());
        assertEquals(AttentionSpec.QkNorm.PER_HEAD, a.qkNorm());
        assertEquals(10000.0, s.rope().theta());
        assertEquals(16, s.rope().rotaryDim());
        assertFalse(s.tieWordEmbeddings());
        assertEquals(Quantization.NONE, s.quantization());
    }

    @Test
    void everyFixtureFamilyReads() {
        assertEquals(Family.QWEN2_MOE, fixture("qwen2_moe").family());
        assertEquals(Family.OLMOE, fixture("olmoe").family());
        assertEquals(Family.MIXTRAL, fixture("mixtral").family());
        assertEquals(Family.DEEPSEEK_V2, fixture("deepseek_v2").family());
        assertEquals(Family.DEEPSEEK_V3, fixture("deepseek_v3").family());
        assertEquals(Family.GPT_OSS, fixture("gpt_oss").family());
        assertEquals(Family.GRANITE_MOE, fixture("granitemoe").family());
        ModelSpec ds3 = fixture("deepseek_v3");
        assertEquals(Scoring.SIGMOID, ds3.moe().scoring());
        assertEquals(List.of(1, 2), ds3.moeLayers());
        assertEquals(2.5f, ds3.moe().routedScalingFactor());
        assertEquals(ExpertLayout.FUSED_GATE_UP_INTERLEAVED, fixture("gpt_oss").moe().layout());
        assertEquals(Quantization.Method.FP8, fixture("deepseek_v3_fp8").quantization().method());
    }

    @Test
    void unknownArchitectureListsSupportedOnes() {
        var e = assertThrows(MoepruneException.class,
                () -> ConfigReader.parse("{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"]}", Path.of("x/config.json")));
        assertTrue(e.getMessage().startsWith("x/config.json: unsupported model"), e.getMessage());
        assertTrue(e.getMessage().contains(Family.supportedList()), e.getMessage());
    }
}
