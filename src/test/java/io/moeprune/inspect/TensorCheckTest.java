package io.moeprune.inspect;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorCategory;
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
}
