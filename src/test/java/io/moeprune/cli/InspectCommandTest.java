package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.inspect.CheckpointEdits;
import io.moeprune.model.Family;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class InspectCommandTest {
    static final Path SHARED_MODEL = Path.of("../shared/models/moe-tiny-7d");
    static final Path FIXTURES = Path.of("src/test/resources/conformance");

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** A bad-input run: exit 2, nothing on stdout, one error line without a stack trace. */
    static String badInput(String... args) {
        Run r = run(args);
        assertEquals(2, r.exit(), r.err());
        assertEquals("", r.out());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("moeprune: error: "), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        return r.err().strip();
    }

    @Test
    void sharedModelText() {
        Assumptions.assumeTrue(Files.isDirectory(SHARED_MODEL), "shared test bed ../shared is absent");
        Run r = run("inspect", SHARED_MODEL.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.err());
        assertTrue(r.out().contains("Parameters       28,906,752\n"), r.out());
        assertTrue(r.out().contains("Layers           8: 8 MoE (0-7), 0 dense\n"), r.out());
        assertTrue(r.out().contains("Experts          32 routed per MoE layer, top-4, intermediate 128"), r.out());
        assertTrue(r.out().contains("Tensor check     passed: 842 of 842 expected tensors present with the implied shape; "
                + "0 missing, 0 wrong shape, 0 unexpected"), r.out());
    }

    @Test
    void sharedModelJson() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(SHARED_MODEL), "shared test bed ../shared is absent");
        Run r = run("inspect", SHARED_MODEL.toString(), "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals("qwen3_moe", j.get("model_type").asText());
        assertEquals(28_906_752L, j.get("parameters").get("total").asLong());
        assertEquals(25_165_824L, j.get("parameters").get("routed_experts").asLong());
        // everything but 28 of 32 experts in 8 layers: 28,906,752 - 8 * 28 * 98,304
        assertEquals(28_906_752L - 8L * 28 * 98_304, j.get("parameters").get("active_per_token").asLong());
        assertEquals(8, j.get("layers").get("moe").size());
        assertEquals(0, j.get("layers").get("dense").size());
        assertEquals(32, j.get("moe").get("experts").asInt());
        assertEquals("num_local_experts", j.get("moe").get("expert_count_key").asText());
        assertEquals(4, j.get("moe").get("top_k").asInt());
        assertEquals("softmax", j.get("moe").get("scoring").asText());
        JsonNode check = j.get("tensor_check");
        assertTrue(check.get("passed").asBoolean());
        assertEquals(0, check.get("missing").size());
        assertEquals(0, check.get("unexpected").size());
        assertEquals(0, check.get("wrong_shape").size());
        long bytes = j.get("bytes").get("total").asLong();
        long sum = 0;
        for (JsonNode v : j.get("bytes").get("by_category")) sum += v.asLong();
        assertEquals(bytes, sum);
        assertEquals(8, j.get("projections").get(0).get("kept_experts").asInt());
        assertEquals(28_906_752L - 8L * 24 * 98_304, j.get("projections").get(0).get("parameters").asLong());
    }

    @Test
    void everyFixtureInspectsCleanly() {
        for (String f : new String[]{"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2",
                "deepseek_v3", "deepseek_v3_fp8", "gpt_oss", "granitemoe"}) {
            Run r = run("inspect", FIXTURES.resolve(f).toString());
            assertEquals(0, r.exit(), f + ": " + r.err() + r.out());
            assertTrue(r.out().contains(" 0 missing, 0 wrong shape, 0 unexpected"), f + ": " + r.out());
        }
    }

    @Test
    void missingTensorsExitWithOne(@TempDir Path tmp) throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(FIXTURES.resolve("olmoe"), tmp.resolve("m"),
                h -> CheckpointEdits.rename(h, "model.layers.2.mlp.gate.weight", "model.layers.2.mlp.router.weight"));
        Run r = run("inspect", dir.toString());
        assertEquals(1, r.exit());
        assertTrue(r.out().contains("Tensor check     FAILED: "), r.out());
        assertTrue(r.out().contains("  missing: model.layers.2.mlp.gate.weight[8, 64]\n"), r.out());
        assertTrue(r.out().contains("  unexpected: model.layers.2.mlp.router.weight\n"), r.out());
        Run j = run("inspect", "--json", dir.toString());
        assertEquals(1, j.exit());
        assertTrue(j.out().contains("\"passed\" : false"), j.out());
    }

    @Test
    void missingDirectory(@TempDir Path tmp) {
        assertEquals("moeprune: error: " + tmp.resolve("none") + ": model directory not found",
                badInput("inspect", tmp.resolve("none").toString()));
    }

    @Test
    void missingConfig(@TempDir Path tmp) {
        assertEquals("moeprune: error: " + tmp.resolve("config.json") + ": missing (every model directory needs a config.json)",
                badInput("inspect", tmp.toString()));
    }

    @Test
    void configThatIsNotJson(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("config.json"), "model_type = qwen3_moe\n");
        String err = badInput("inspect", tmp.toString());
        assertTrue(err.startsWith("moeprune: error: " + tmp.resolve("config.json") + ": not valid JSON: "), err);
    }

    @Test
    void unknownArchitecture(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}");
        String err = badInput("inspect", tmp.toString());
        assertTrue(err.contains("unsupported model (model_type 'llama', architecture 'LlamaForCausalLM'); supported: "), err);
        assertTrue(err.endsWith(Family.supportedList()), err);
        for (Family f : Family.values()) assertTrue(err.contains(f.modelType()), err);
    }

    @Test
    void missingRequiredKeys(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve("config.json"), "{\"model_type\": \"mixtral\", \"vocab_size\": 256}");
        assertEquals("moeprune: error: " + tmp.resolve("config.json") + ": missing required key 'hidden_size'",
                badInput("inspect", tmp.toString()));
    }

    @Test
    void configWithoutWeights(@TempDir Path tmp) throws IOException {
        Files.copy(FIXTURES.resolve("mixtral/config.json"), tmp.resolve("config.json"));
        assertEquals("moeprune: error: " + tmp + ": no model.safetensors or model.safetensors.index.json in the model directory",
                badInput("inspect", tmp.toString()));
    }

    @Test
    void usageErrorWithoutDirectory() {
        Run r = run("inspect");
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("moeprune: error: Missing required parameter: 'MODEL_DIR'"), r.err());
    }
}
