package io.moeprune.inspect;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorCategory;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import io.moeprune.safetensors.Checkpoint;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TensorCheckTest {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2", "deepseek_v3",
            "deepseek_v3_fp8", "gpt_oss", "granitemoe"})
    void everyFixtureMatchesItsConfig(String name) {
        Path dir = FIXTURES.resolve(name);
        ModelSpec spec = ConfigReader.read(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            TensorCheck check = TensorCheck.of(spec, ck);
            assertEquals(java.util.List.of(), check.missing().stream().map(Object::toString).toList(), "missing");
            assertEquals(java.util.List.of(), check.wrongShape().stream().map(w -> w.name()).toList(), "wrong shape");
            assertEquals(java.util.List.of(), check.unexpected(), "unexpected");
            assertTrue(check.passes());
            assertEquals(ck.names().size(), check.found());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2", "deepseek_v3",
            "gpt_oss", "granitemoe"})
    void parameterCountMatchesTransformers(String name) throws IOException {
        Path dir = FIXTURES.resolve(name);
        long reference = new ObjectMapper().readTree(dir.resolve("reference.json").toFile()).get("parameters").asLong();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            ParameterAccounting acc = ParameterAccounting.of(ConfigReader.read(dir), ck);
            assertEquals(reference, acc.total());
            long bytes = ck.names().stream().mapToLong(n -> ck.info(n).byteSize()).sum();
            assertEquals(bytes, acc.totalBytes());
            assertEquals(0L, acc.bytes().get(TensorCategory.OTHER));
        }
    }

    @org.junit.jupiter.api.Test
    void findsMissingWrongShapeAndUnexpected(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(FIXTURES.resolve("mixtral"), tmp.resolve("m"), h -> {
            CheckpointEdits.rename(h, "model.layers.1.block_sparse_moe.experts.3.w2.weight", "model.layers.1.extra.weight");
            CheckpointEdits.reshape(h, "model.layers.0.block_sparse_moe.experts.0.w1.weight", 64, 32);
        });
        try (Checkpoint ck = Checkpoint.open(dir)) {
            TensorCheck c = TensorCheck.of(ConfigReader.read(dir), ck);
            assertFalse(c.passes());
            assertEquals(java.util.List.of("model.layers.1.block_sparse_moe.experts.3.w2.weight[64, 32]"),
                    c.missing().stream().map(Object::toString).toList());
            assertEquals(1, c.wrongShape().size());
            TensorCheck.WrongShape w = c.wrongShape().getFirst();
            assertEquals("model.layers.0.block_sparse_moe.experts.0.w1.weight", w.name());
            assertArrayEquals(new long[]{32, 64}, w.expected());
            assertArrayEquals(new long[]{64, 32}, w.actual());
            assertEquals(java.util.List.of("model.layers.1.extra.weight"), c.unexpected());
            assertEquals(c.expected() - 2, c.found());
            // the unexplained tensor's bytes are counted as "other"
            assertEquals(64 * 32 * 2, ParameterAccounting.of(ConfigReader.read(dir), ck).bytes().get(TensorCategory.OTHER));
        }
    }

    @org.junit.jupiter.api.Test
    void unexpectedTensorsAloneDoNotFail(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(FIXTURES.resolve("deepseek_v3_fp8"), tmp.resolve("m"), h -> {
            // an MTP layer tensor (layer 3 = num_hidden_layers) is legitimate; a rotary buffer too
            CheckpointEdits.rename(h, "model.layers.0.self_attn.q_a_layernorm.weight", "model.layers.3.enorm.weight");
        });
        try (Checkpoint ck = Checkpoint.open(dir)) {
            TensorCheck c = TensorCheck.of(ConfigReader.read(dir), ck);
            assertEquals(java.util.List.of("model.layers.3.enorm.weight"), c.ignored());
            assertEquals(java.util.List.of(), c.unexpected());
            assertEquals(1, c.missing().size());
        }
    }

    @org.junit.jupiter.api.Test
    void activeParametersAndProjections() {
        Path dir = FIXTURES.resolve("deepseek_v3");
        try (Checkpoint ck = Checkpoint.open(dir)) {
            ParameterAccounting a = ParameterAccounting.of(ConfigReader.read(dir), ck);
            long perExpert = 3L * 32 * 64;                 // gate, up [32,64] and down [64,32]
            assertEquals(perExpert, a.perExpert());
            assertEquals(2 * 16 * perExpert, a.routedExperts());
            assertEquals(a.total() - 2 * 12 * perExpert, a.activePerToken());   // 12 of 16 unused in 2 layers
            assertEquals(3, a.projections().size());
            ParameterAccounting.Projection half = a.projections().get(1);
            assertEquals(50, half.percent());
            assertEquals(8, half.keptExperts());
            assertEquals(a.total() - 2 * 8 * perExpert, half.parameters());
            assertEquals(a.totalBytes() - 2 * 8 * perExpert * 2, half.bytes());   // bf16
            // 25 % of 16 = 4 = top-k: never fewer than top-k
            assertEquals(4, a.projections().getFirst().keptExperts());
        }
    }
}
