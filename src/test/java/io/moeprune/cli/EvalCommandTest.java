package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.MaskFiles;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

import static io.moeprune.cli.RuntimeCommandsTest.MODEL;
import static io.moeprune.cli.RuntimeCommandsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** moeprune eval end to end on the shared moe-tiny-7d model, with tiny inline JSONL files. */
class EvalCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String CHOICES = """
            {"query": "def add(a, b):\\n    return a", "choices": [" + b", " * banana"], "gold": 0}
            {"query": "The patient was given", "choices": [" a dose of", " the kernel"], "gold": 0}
            """;

    @BeforeEach
    void sharedModel() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "shared model absent");
    }

    static Path textFile(Path dir) throws Exception {
        var lines = Files.readAllLines(Path.of("../shared/data/domains/python.dev.jsonl"));
        return Files.writeString(dir.resolve("text.jsonl"), lines.get(2) + "\n" + lines.get(7) + "\n");
    }

    static JsonNode json(RuntimeCommandsTest.Run r) throws Exception {
        assertEquals(0, r.code(), r.err());
        return JSON.readTree(r.out());
    }

    /** A native mask keeping the first top-k experts of every layer, made for the shared model. */
    static Path mask(Path dir) {
        ModelSpec spec = Models.spec(MODEL);
        try (Checkpoint c = Checkpoint.open(MODEL)) {
            int[][] kept = new int[spec.moeLayers().size()][];
            for (int i = 0; i < kept.length; i++) kept[i] = IntStream.range(0, spec.moe().topK()).toArray();
            Path f = dir.resolve("mask.json");
            MaskFiles.write(new io.moeprune.select.ExpertMask(ModelFingerprint.of(spec, c), "qwen3_moe", 32, 4,
                    spec.moeLayers(), kept, "test", "per-layer 4", List.of()), f);
            return f;
        }
    }

    @Test
    void allTasksInOneRun(@TempDir Path dir) throws Exception {
        Path text = textFile(dir);
        Path choice = Files.writeString(dir.resolve("choice.jsonl"), CHOICES);
        Path gen = Files.writeString(dir.resolve("gen.jsonl"),
                "{\"question\": \"Question: What is 2 plus 3?\\nAnswer:\", \"answer\": \"2 + 3 = 5\\n#### 5\"}\n");
        JsonNode j = json(run("eval", MODEL.toString(), "--text", text.toString(), "--max-tokens-per-doc", "64",
                "--choice", choice.toString(), "--generate", gen.toString(), "--max-new-tokens", "6",
                "--speed", "--prompt-tokens", "16", "--decode-tokens", "4", "--threads", "2", "--json"));
        assertEquals("moeprune-eval", j.get("format").asText());
        assertEquals(2, j.get("threads").asInt());
        // Which kernels ran, since the speed depends on them (the default here: vector, or scalar without the module).
        assertTrue(j.get("kernels").asText().matches("(vector|scalar).*"), j.get("kernels").asText());
        assertEquals(57813504, j.get("weights").get("checkpoint_bytes").asLong());
        assertEquals(57813504, j.get("weights").get("used_bytes").asLong());
        assertTrue(j.get("weights").get("kept_bytes").isNull());
        assertTrue(j.get("weights").get("resident_bytes").asLong() > 0);

        // The text task is the perplexity command's protocol: same figures.
        JsonNode ppl = json(run("perplexity", MODEL.toString(), "--data", text.toString(), "--max-tokens-per-doc", "64",
                "--json", "--threads", "2"));
        JsonNode t = j.get("text");
        assertEquals(ppl.get("predicted_tokens").asInt(), t.get("predicted_tokens").asInt());
        assertEquals(126, t.get("predicted_tokens").asInt());
        assertEquals(ppl.get("loss").asDouble(), t.get("loss").asDouble(), 1e-9);
        assertEquals(ppl.get("accuracy").asDouble(), t.get("accuracy").asDouble(), 1e-9);

        JsonNode c = j.get("choice");
        assertEquals(2, c.get("questions").asInt());
        assertEquals(2, c.get("items").size());
        JsonNode g = j.get("generate");
        assertEquals(1, g.get("questions").asInt());
        assertEquals("5", g.get("items").get(0).get("reference").asText());
        assertTrue(g.get("items").get(0).get("generated_tokens").asInt() <= 6);
        assertTrue(j.get("speed").get("prefill_tokens_per_second").asDouble() > 0);
        assertTrue(j.get("speed").get("decode_tokens_per_second").asDouble() > 0);

        // The table names every task.
        var table = run("eval", MODEL.toString(), "--choice", choice.toString(), "--threads", "2");
        assertEquals(0, table.code(), table.err());
        assertTrue(table.out().contains("acc_norm"), table.out());
        assertTrue(table.out().contains("57.8 MB"), table.out());
    }

    /** Each choice's score is the log-likelihood of query+choice minus that of the query alone. */
    @Test
    void choiceScoresAreDifferencesOfDocumentLikelihoods(@TempDir Path dir) throws Exception {
        Tokenizer tok = Tokenizers.load(MODEL);
        String query = "The patient was given";
        List<String> choices = List.of(" a dose of", " the kernel", " aspirin");
        double[] expected = new double[choices.size()];
        try (Model model = Models.open(MODEL)) {
            Perplexity p = new Perplexity(model, ExpertMask.NONE);
            double q = p.score(tok.encode(query)).nll();
            for (int i = 0; i < expected.length; i++) expected[i] = -(p.score(tok.encode(query + choices.get(i))).nll() - q);
        }
        int best = 0;
        for (int i = 1; i < expected.length; i++) if (expected[i] > expected[best]) best = i;
        int worst = best == 0 ? 1 : 0;
        String line1 = JSON.writeValueAsString(java.util.Map.of("query", query, "choices", choices, "gold", best));
        String line2 = JSON.writeValueAsString(java.util.Map.of("query", query, "choices", choices, "gold", worst));
        Path file = Files.writeString(dir.resolve("c.jsonl"), line1 + "\n" + line2 + "\n");
        JsonNode c = json(run("eval", MODEL.toString(), "--choice", file.toString(), "--json", "--threads", "2")).get("choice");
        JsonNode lp = c.get("items").get(0).get("log_probs");
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], lp.get(i).asDouble(), 1e-3);
        assertEquals(best, c.get("items").get(0).get("predicted").asInt());
        assertEquals(0.5, c.get("acc").asDouble(), 0);
    }

    @Test
    void maskedEvaluationDiffersAndReportsPrunedBytes(@TempDir Path dir) throws Exception {
        Path text = textFile(dir);
        Path mask = mask(dir);
        JsonNode full = json(run("eval", MODEL.toString(), "--text", text.toString(), "--max-tokens-per-doc", "64",
                "--json", "--threads", "2"));
        JsonNode masked = json(run("eval", MODEL.toString(), "--text", text.toString(), "--max-tokens-per-doc", "64",
                "--mask", mask.toString(), "--json", "--threads", "2"));
        assertEquals(mask.toString(), masked.get("mask").asText());
        assertNotEquals(full.get("text").get("loss").asDouble(), masked.get("text").get("loss").asDouble());
        assertTrue(masked.get("text").get("loss").asDouble() > full.get("text").get("loss").asDouble());
        // 28 of 32 experts dropped in 8 layers: 3 BF16 matrices of 128x256 each, plus 28 router rows of 256.
        long removed = 8L * 28 * (3 * 128 * 256 * 2 + 256 * 2);
        assertEquals(57813504 - removed, masked.get("weights").get("kept_bytes").asLong());
        // The perplexity command applies the same mask the same way.
        JsonNode ppl = json(run("perplexity", MODEL.toString(), "--data", text.toString(), "--max-tokens-per-doc", "64",
                "--mask", mask.toString(), "--json", "--threads", "2"));
        assertEquals(ppl.get("loss").asDouble(), masked.get("text").get("loss").asDouble(), 1e-9);
    }

    @Test
    void maskForAnotherModelIsRefusedByEvalAndPerplexity(@TempDir Path dir) throws Exception {
        Path text = textFile(dir);
        Path mask = mask(dir);
        String m = Files.readString(mask);
        String fp = JSON.readTree(m).get("model").get("fingerprint").asText();
        Files.writeString(mask, m.replace(fp, "sha256:" + "ab".repeat(12)));
        var e = run("eval", MODEL.toString(), "--text", text.toString(), "--mask", mask.toString());
        var p = run("perplexity", MODEL.toString(), "--data", text.toString(), "--mask", mask.toString());
        assertEquals(2, e.code());
        assertEquals(2, p.code());
        assertTrue(e.err().strip().startsWith("moeprune: error: " + mask + ": mask was made for another model"), e.err());
        assertEquals(1, e.err().strip().lines().count(), e.err());
        assertEquals(e.err().strip(), p.err().strip());
    }

    @Test
    void badJsonlLinesNameFileAndLine(@TempDir Path dir) throws Exception {
        Path choice = Files.writeString(dir.resolve("c.jsonl"), CHOICES.lines().findFirst().orElseThrow()
                + "\n\n{\"query\": \"q\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n");
        var r = run("eval", MODEL.toString(), "--choice", choice.toString());
        assertEquals(2, r.code());
        assertEquals("moeprune: error: " + choice + ":3: \"gold\" should be the index of the right choice, 0..1", r.err().strip());

        Path gen = Files.writeString(dir.resolve("g.jsonl"), "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{\"question\": \"q\"}\n");
        r = run("eval", MODEL.toString(), "--generate", gen.toString());
        assertEquals("moeprune: error: " + gen + ":2: no \"answer\" string", r.err().strip());

        Path gen2 = Files.writeString(dir.resolve("g2.jsonl"), "{\"answer\": \"#### 1\"}\n");
        r = run("eval", MODEL.toString(), "--generate", gen2.toString());
        assertEquals("moeprune: error: " + gen2 + ":1: no \"question\" or \"prompt\" string", r.err().strip());

        Path broken = Files.writeString(dir.resolve("b.jsonl"), "[1, 2]\n");
        r = run("eval", MODEL.toString(), "--choice", broken.toString());
        assertEquals("moeprune: error: " + broken + ":1: not a JSON object", r.err().strip());

        Path text = Files.writeString(dir.resolve("t.jsonl"), "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
        r = run("eval", MODEL.toString(), "--text", text.toString());
        assertEquals("moeprune: error: " + text + ":2: needs \"text\", \"messages\", or \"prompt\" and \"response\" "
                + "(or --text-field NAME for another key)", r.err().strip());
    }
}
