package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RuntimeCommandsTest {
    static final Path MODEL = Path.of("../shared/models/moe-tiny-7d");

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void perplexityOfShortDocumentsMatchesTransformers(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "shared model absent");
        // Two short documents from python.dev.jsonl (lines 2 and 7 of the reference: 73 and 78 tokens).
        var lines = Files.readAllLines(Path.of("../shared/data/domains/python.dev.jsonl"));
        Path data = Files.writeString(dir.resolve("docs.jsonl"), lines.get(2) + "\n\n" + lines.get(7) + "\n");
        Run r = run("perplexity", MODEL.toString(), "--data", data.toString(), "--json", "--threads", "2");
        assertEquals(0, r.code, r.err);
        JsonNode j = new ObjectMapper().readTree(r.out);
        JsonNode docs = new ObjectMapper().readTree(Path.of("src/test/resources/reference/moe-tiny-7d.ppl512.json")
                .toFile()).get("domains").get("python").get("docs");
        double nll = docs.get(2).get("nll").asDouble() + docs.get(7).get("nll").asDouble();
        int predicted = docs.get(2).get("tokens").asInt() - 1 + docs.get(7).get("tokens").asInt() - 1;
        assertEquals(2, j.get("documents").asInt());
        assertEquals(predicted, j.get("predicted_tokens").asInt());
        assertEquals(nll / predicted, j.get("loss").asDouble(), 0.005 * nll / predicted);
        assertEquals(Math.exp(j.get("loss").asDouble()), j.get("perplexity").asDouble(), 1e-9);
        assertTrue(j.get("tokens_per_second").asDouble() > 0);
        assertTrue(j.get("kernels").asText().matches("(vector|scalar).*"), j.get("kernels").asText());
    }

    @Test
    void malformedJsonlNamesFileAndLine(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "shared model absent");
        Path data = Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"ok\"}\n{\"text\": \"broken\n");
        Run r = run("perplexity", MODEL.toString(), "--data", data.toString());
        assertEquals(2, r.code);
        assertEquals("moeprune: error: " + data + ":2: not valid JSON", r.err.strip());
    }

    @Test
    void greedyGenerationIsDeterministicAndStreams() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "shared model absent");
        Run a = run("generate", MODEL.toString(), "--prompt", "def main(", "--max-tokens", "12");
        Run b = run("generate", MODEL.toString(), "--prompt", "def main(", "--max-tokens", "12", "--temperature", "0");
        assertEquals(0, a.code, a.err);
        assertFalse(a.out.isBlank());
        assertEquals(a.out, b.out);
        assertTrue(a.err.contains("tokens/s decode"), a.err);
    }

    @Test
    void missingModelIsOneLine() {
        Run r = run("generate", "/nonexistent/model", "--prompt", "x");
        assertEquals(2, r.code);
        assertEquals(1, r.err.strip().lines().count(), r.err);
    }
}
