package io.moeprune.cli;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The "Machine-readable output" convention on every subcommand: with --json standard output holds exactly one JSON
 * object naming its format and version, whose numbers are those the text output shows; --output FILE holds the same
 * object; report's results.json holds the numbers of its report.md.
 */
class JsonOutputTest {
    static final Path MODEL = RuntimeCommandsTest.MODEL;
    static final Path DATA = Path.of("../shared/data/domains");
    /** Fails on anything after the first JSON value: stdout must hold one object and nothing else. */
    static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    static final String[] DEMOS = {
            "{\"text\": \"public static int twice(int x) { return 2 * x; }\"}",
            "{\"text\": \"The derivative of x^2 is 2x, and the integral of 2x is x^2 + C.\"}"};

    record Run(int code, String out, String err) {
    }

    /**
     * Runs in-process. Standard output: what the command printed on picocli's writer or on System.out (a command uses
     * one of them). System.out is replaced before the command line is made: picocli's writers are made from it.
     */
    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        ByteArrayOutputStream systemOut = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(systemOut, true, StandardCharsets.UTF_8));
        try {
            var cl = Main.commandLine();
            cl.setOut(new PrintWriter(out));
            cl.setErr(new PrintWriter(err));
            int code = cl.execute(args);
            return new Run(code, out + systemOut.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    /** The one JSON object on standard output, checked to name {@code format}, version 1. */
    static JsonNode json(Run r, String format) throws Exception {
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertTrue(j.isObject(), r.out());
        assertEquals(format, j.path("format").asText(), r.out());
        assertEquals(1, j.path("version").asInt(), r.out());
        return j;
    }

    static void assertFileHolds(JsonNode expected, Path file) throws Exception {
        assertEquals(expected, JSON.readTree(file.toFile()), file.toString());
    }

    static void needsSharedModel() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL) && Files.isDirectory(DATA),
                "../shared/models/moe-tiny-7d or ../shared/data/domains is absent: skipping");
    }

    static double number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), regex + " in " + text);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void calibrateSelectAnalyzePruneInspect(@TempDir Path dir) throws Exception {
        needsSharedModel();
        Path demos = Files.writeString(dir.resolve("math.jsonl"), String.join("\n", DEMOS) + "\n");
        Path stats = dir.resolve("math.stats"), summary = dir.resolve("calibrate.json");
        JsonNode cal = json(run("calibrate", MODEL.toString(), "--data", demos.toString(), "--out", stats.toString(),
                "--quiet", "--json", "--output", summary.toString()), "moeprune-calibrate");
        Tokenizer tok = Tokenizers.load(MODEL);
        long demoTokens = 0;
        for (String d : DEMOS) demoTokens += tok.encode(JSON.readTree(d).get("text").asText()).length;
        assertEquals(demoTokens, cal.get("tokens").asLong());
        assertEquals(2, cal.get("documents").asInt());
        assertEquals("math", cal.get("domain").asText());
        assertEquals(8, cal.get("moe_layers").asInt());
        assertEquals(32, cal.get("experts").asInt());
        assertEquals(stats.toString(), cal.get("statistics").asText());
        assertTrue(Files.isRegularFile(stats));
        assertFileHolds(cal, summary);
        // Without --json the text is as before: one line, the same count.
        Run text = run("calibrate", MODEL.toString(), "--data", demos.toString(), "--out", stats.toString(), "--quiet");
        assertTrue(text.out().startsWith("calibrated math: 2 demonstrations, " + demoTokens + " tokens"), text.out());

        Path mask = dir.resolve("m.json");
        JsonNode sel = json(run("select", stats.toString(), "--keep", "8", "--out", mask.toString(), "--json"),
                "moeprune-select");
        assertEquals(64, sel.get("kept_total").asInt());
        assertEquals(256, sel.get("experts_total").asInt());
        assertEquals(8, sel.get("kept_per_layer").size());

        // The same statistics twice: the domains' top-8 sets overlap completely.
        Run analyzeText = run("analyze", stats.toString(), stats.toString(), "--keep", "8");
        JsonNode an = json(run("analyze", stats.toString(), stats.toString(), "--keep", "8", "--json"), "moeprune-analyze");
        assertEquals(List.of("math", "math"), JSON.convertValue(an.get("domains"), List.class));
        assertEquals(1.0, an.get("overlap_between_domains").get(0).get(1).asDouble(), 1e-12);
        assertEquals(List.of(1, 2), JSON.convertValue(an.get("demo_counts"), List.class));
        assertEquals(1.0, an.get("overlap_by_demos").get("math").get(1).asDouble(), 1e-12);
        assertTrue(analyzeText.out().contains(String.format(Locale.ROOT, " %6.3f",
                an.get("overlap_by_demos").get("math").get(0).asDouble())), analyzeText.out());

        JsonNode pr = json(run("prune", MODEL.toString(), "--mask", mask.toString(), "--out", dir.resolve("p").toString(),
                "--json"), "moeprune-prune");
        assertEquals(32, pr.get("experts_before").asInt());
        assertEquals(8, pr.get("experts_kept").asInt());

        JsonNode in = json(run("inspect", dir.resolve("p").toString(), "--json"), "moeprune-inspect");
        assertEquals("qwen3_moe", in.get("model_type").asText());
    }

    @Test
    void perplexityEvalGenerateAgreeWithTheirText(@TempDir Path dir) throws Exception {
        needsSharedModel();
        Path data = EvalCommandTest.textFile(dir), ppl = dir.resolve("ppl.json");
        String[] common = {"perplexity", MODEL.toString(), "--data", data.toString(), "--max-tokens-per-doc", "64",
                "--threads", "2", "--quiet"};
        JsonNode p = json(run(concat(common, "--json", "--output", ppl.toString())), "moeprune-perplexity");
        assertFileHolds(p, ppl);
        Path only = dir.resolve("only.json");
        Run text = run(concat(common, "--output", only.toString()));   // --output alone: the text still prints
        assertEquals(0, text.code(), text.err());
        assertEquals(number(text.out(), "loss (\\d+\\.\\d+)"), p.get("loss").asDouble(), 5e-5);
        assertEquals((long) number(text.out(), "tokens (\\d+) "), p.get("tokens").asLong());
        assertEquals(p.get("loss").asDouble(), JSON.readTree(only.toFile()).get("loss").asDouble(), 1e-12);

        Path evalFile = dir.resolve("eval.json");
        JsonNode e = json(run("eval", MODEL.toString(), "--text", data.toString(), "--max-tokens-per-doc", "64",
                "--threads", "2", "--quiet", "--json", "--output", evalFile.toString()), "moeprune-eval");
        assertFileHolds(e, evalFile);
        assertEquals(p.get("loss").asDouble(), e.get("text").get("loss").asDouble(), 1e-9);

        String[] gen = {"generate", MODEL.toString(), "--prompt", "public static int", "--max-tokens", "8", "--quiet"};
        Run streamed = run(gen);
        Path genFile = dir.resolve("gen.json");
        JsonNode g = json(run(concat(gen, "--json", "--output", genFile.toString())), "moeprune-generate");
        assertFileHolds(g, genFile);
        assertEquals(streamed.out().strip(), g.get("text").asText().strip());   // greedy: the same continuation
        assertEquals(g.get("generated_tokens").asInt(), g.get("token_ids").size());
        assertTrue(g.get("generated_tokens").asInt() <= 8);
        assertEquals(tok(g.get("prompt").asText()), g.get("prompt_tokens").asInt());
    }

    private static int tok(String text) {
        return Tokenizers.load(MODEL).encode(text).length;
    }

    @Test
    void patternsBuildAndMatch(@TempDir Path dir) throws Exception {
        needsSharedModel();
        Path store = dir.resolve("store");
        JsonNode b = json(run("patterns", "build", MODEL.toString(), "--task", "math=" + DATA.resolve("math.dev.jsonl"),
                "--max-demos", "2", "--max-tokens-per-demo", "64", "--keep", "8", "--out", store.toString(), "--quiet",
                "--json"), "moeprune-patterns-build");
        assertEquals(List.of("math"), JSON.convertValue(b.get("patterns"), List.class));
        assertEquals(2, b.get("built").get(0).get("documents").asInt());
        assertEquals(128, b.get("built").get(0).get("tokens").asInt());   // two long documents cut to 64 tokens
        JsonNode m = json(run("patterns", "match", store.toString(), "--prompt", "Solve 2x + 3 = 7.", "--json"),
                "moeprune-patterns-match");
        assertEquals("math", m.get("prompts").get(0).get("match").asText());
    }

    @Test
    void reportWritesResultsJsonWithTheNumbersOfItsMarkdown(@TempDir Path dir) throws Exception {
        needsSharedModel();
        Path out = dir.resolve("r"), file = dir.resolve("report.json");
        List<String> args = new ArrayList<>(List.of("report", MODEL.toString(), "--domains",
                "java=" + DATA.resolve("java.dev.jsonl"), "prose=" + DATA.resolve("prose.dev.jsonl"), "--out",
                out.toString(), "--quiet", "--json", "--output", file.toString()));
        args.addAll(List.of(QuickstartCommandTest.TINY));
        JsonNode j = json(run(args.toArray(String[]::new)), "moeprune-report");
        assertFileHolds(j, file);
        JsonNode results = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(out.toAbsolutePath().resolve("report.html").toString(), j.get("report").asText());
        // results.json is the printed object without the paths of the report's files.
        ((com.fasterxml.jackson.databind.node.ObjectNode) j).remove(List.of("report", "markdown", "results"));
        assertEquals(results, j);

        String md = Files.readString(out.resolve("report.md"));
        JsonNode javaDomain = results.get("domains").get("java"), prose = results.get("domains").get("prose");
        double fj = javaDomain.get("full").get("loss").asDouble(), fp = prose.get("full").get("loss").asDouble();
        assertTrue(md.contains(String.format(Locale.ROOT, "| full model | %.3f | %.3f | %.3f |", fj, fp, (fj + fp) / 2)), md);
        double ej = javaDomain.get("in_domain").get("easyep").get("8").get("loss").asDouble();
        assertTrue(md.contains(String.format(Locale.ROOT, "| easyep | %.3f (%+.1f%%) |", ej, 100 * (ej - fj) / fj)), md);
        double oj = javaDomain.get("out_of_domain").get("prose").get("8").get("loss").asDouble();
        assertTrue(md.contains(String.format(Locale.ROOT, "| java | %.3f (%+.1f%%) | %.3f (%+.1f%%) |", ej,
                100 * (ej - fj) / fj, oj, 100 * (oj - fp) / fp)), md);

        JsonNode pruned = results.get("checkpoints").get(1);
        assertEquals("java-8of32", pruned.get("label").asText());
        assertTrue(pruned.get("exact").asBoolean());
        assertTrue(results.get("exactness").get("pruning_exact").asBoolean());
        assertTrue(md.contains(String.format(Locale.ROOT, "| java-8of32 | 8/32 | %,d |", pruned.get("parameters").asLong())), md);
        assertTrue(md.contains(String.format(Locale.ROOT, "%.6f", pruned.get("loss").get("loss").asDouble())), md);
        JsonNode decode = pruned.get("speed").get("decode_tokens_per_second");
        assertTrue(decode.get("min").asDouble() <= decode.get("median").asDouble()
                && decode.get("median").asDouble() <= decode.get("max").asDouble(), decode.toString());
        assertTrue(md.contains(String.format(Locale.ROOT, "%.1f (%.0f-%.0f)", decode.get("median").asDouble(),
                decode.get("min").asDouble(), decode.get("max").asDouble())), md);
        assertTrue(md.contains(pruned.get("decode_claim").asText()), md);
        try (var files = Files.list(dir)) {
            assertEquals(java.util.Set.of(out, file), java.util.Set.copyOf(files.toList()), "nothing staged left behind");
        }
    }

    @Test
    void serveAndEveryOtherCommandDocumentJson() {
        for (String c : List.of("inspect", "calibrate", "select", "analyze", "prune", "eval", "perplexity", "generate",
                "report", "quickstart", "serve")) {
            assertTrue(run(c, "--help").out().contains("--json"), c);
        }
        assertTrue(run("patterns", "build", "--help").out().contains("--json"));
        assertTrue(run("patterns", "match", "--help").out().contains("--json"));
        for (String c : List.of("eval", "perplexity", "calibrate", "generate", "report", "quickstart")) {
            assertTrue(run(c, "--help").out().contains("--output"), c);
        }
    }

    private static String[] concat(String[] a, String... more) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(more));
        return l.toArray(String[]::new);
    }
}
