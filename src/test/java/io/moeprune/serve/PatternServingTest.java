package io.moeprune.serve;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.completions.CompletionCreateParams;
import io.moeprune.cli.Main;
import io.moeprune.eval.MaskLoader;
import io.moeprune.patterns.PatternStore;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** serve with a pattern store: requests matched or naming a pattern, concurrent requests (shared model). */
class PatternServingTest {
    static final Path MODEL = OpenAiServerTest.MODEL;
    static final Path DATA = Path.of("../shared/data/domains");

    @Test
    void requestsRunWithTheirPatternAndConcurrentOnesEqualTheSameServedAlone(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(MODEL) && Files.isDirectory(DATA), "../shared is absent: skipping");
        Path store = dir.resolve("store");
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(new StringWriter()));
        assertEquals(0, cl.execute("patterns", "build", MODEL.toString(), "--task", "java=" + DATA.resolve("java.dev.jsonl"),
                "--task", "math=" + DATA.resolve("math.dev.jsonl"), "--max-demos", "2", "--max-tokens-per-demo", "256",
                "--keep", "8", "--out", store.toString(), "--quiet"));
        try (Model model = Models.open(MODEL)) {
            Tokenizer tok = Tokenizers.load(MODEL);
            PatternStore ps = PatternStore.open(store);
            try (OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "tiny",
                    new CompletionEngine(model, tok, ExpertRouting.patterns(MODEL, model, ps), 2048))) {
                String base = "http://127.0.0.1:" + server.port();
                String javaPrompt = "public static void main(String[] args) {\n        System.out.println(";
                HttpClient http = HttpClient.newHttpClient();
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"max_tokens\": 4, \"temperature\": 0, "
                                + "\"prompt\": \"public static void main(String[] args) {\"}")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals("java", r.headers().firstValue("x-moeprune-pattern").orElseThrow(), r.body());

                // Named pattern: the same text as the runtime with that pattern's mask.
                var mathMask = MaskLoader.load(ps.taskDir("math").resolve(PatternStore.MASK), MODEL, model.spec());
                OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").build();
                String named = client.completions().create(CompletionCreateParams.builder().model("tiny/math")
                        .prompt(javaPrompt).maxTokens(8).temperature(0.0).build()).choices().getFirst().text();
                assertEquals(tok.decode(new Generator(model, mathMask).generate(tok.encode(javaPrompt), 8, Sampler.greedy(),
                        tok.eosIds(), t -> true).tokens(), true), named);

                // 32 at once, each equal to the same request served alone; every fourth names the java pattern and
                // every fourth the math one, so two expert sets are batched in turn.
                List<String> prompts = new ArrayList<>();
                for (int i = 0; i < 32; i++) prompts.add((i % 2 == 0 ? "Question: what is " + i + " plus 7?\nAnswer:" : "int x" + i + " = "));
                List<String> models = new ArrayList<>();
                for (int i = 0; i < 32; i++) models.add(i % 4 == 1 ? "tiny/java" : i % 4 == 2 ? "tiny/math" : "tiny");
                List<Answer> alone = new ArrayList<>();
                for (int i = 0; i < 32; i++) alone.add(answer(http, base, models.get(i), prompts.get(i)));
                long stepsBefore = ServerMetrics.read(http, base, "moeprune_decode_steps_total");
                long sequencesBefore = ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total");
                ExecutorService pool = Executors.newFixedThreadPool(32);
                int nearTies = 0, tokens = 0;
                try {
                    List<Future<Answer>> parallel = new ArrayList<>();
                    for (int i = 0; i < 32; i++) {
                        String m = models.get(i), p = prompts.get(i);
                        parallel.add(pool.submit(() -> answer(http, base, m, p)));
                    }
                    for (int i = 0; i < prompts.size(); i++) {
                        Answer a = alone.get(i), b = parallel.get(i).get();
                        tokens += b.tokens();
                        assertEquals(a.pattern(), b.pattern(), prompts.get(i));
                        if (a.text().equals(b.text())) continue;
                        // Allowed only where the two best logits of the alone run are within 1e-4 where they part.
                        var mask = MaskLoader.load(ps.taskDir(a.pattern()).resolve(PatternStore.MASK), MODEL, model.spec());
                        assertTrue(nearTie(model, tok, mask, prompts.get(i), b.text()), prompts.get(i) + ": alone "
                                + a.text() + " batched " + b.text());
                        nearTies++;
                    }
                } finally {
                    pool.shutdown();
                }
                long steps = ServerMetrics.read(http, base, "moeprune_decode_steps_total") - stepsBefore;
                long sequences = ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total") - sequencesBefore;
                System.out.printf("PatternServingTest: 32 concurrent requests, %d decode steps for %d sequence steps "
                        + "(mean batch %.1f), %d answers decided by a near-tie%n", steps, sequences, (double) sequences / steps, nearTies);
                // The first token of each comes from its prefill, every other one from a decode step.
                assertEquals(tokens - 32, sequences);
                assertTrue(alone.stream().map(Answer::pattern).distinct().count() == 2, "both patterns ran");
                assertTrue(steps < sequences / 4, "decode steps are batched: " + steps + " steps for " + sequences);
            }
        }
    }

    static final int TOKENS = 8;

    record Answer(String text, String pattern, int tokens) {
    }

    /** A greedy completion of TOKENS tokens through the raw HTTP API, with the pattern the server chose. */
    static Answer answer(HttpClient http, String base, String model, String prompt) throws Exception {
        String body = "{\"model\": \"" + model + "\", \"max_tokens\": " + TOKENS + ", \"temperature\": 0, \"prompt\": "
                + io.moeprune.io.JsonFiles.mapper().writeValueAsString(prompt) + "}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        var json = io.moeprune.io.JsonFiles.mapper().readTree(r.body());
        return new Answer(json.at("/choices/0/text").asText(), r.headers().firstValue("x-moeprune-pattern").orElseThrow(),
                json.at("/usage/completion_tokens").asInt());
    }

    /**
     * Whether the greedy run alone parts from {@code batched} at a token whose two best logits are within 1e-4
     * (relative to the largest): the batched products' other summation order may decide it either way.
     */
    private static boolean nearTie(Model model, Tokenizer tok, io.moeprune.runtime.ExpertMask mask, String prompt, String batched) {
        int[] ids = tok.encode(prompt);
        var state = model.newState().withMask(mask);
        float[] logits = model.forward(ids, state, false);
        List<Integer> out = new ArrayList<>();
        for (int j = 0; j < TOKENS; j++) {
            int next = Sampler.argmax(logits, 0, logits.length);
            out.add(next);
            if (!batched.startsWith(tok.decode(out.stream().mapToInt(Integer::intValue).toArray(), true))) {
                float best = logits[next], second = Float.NEGATIVE_INFINITY, scale = 0;
                for (int v = 0; v < logits.length; v++) {
                    if (v != next) second = Math.max(second, logits[v]);
                    scale = Math.max(scale, Math.abs(logits[v]));
                }
                return best - second <= 1e-4 * scale;
            }
            logits = model.decode(next, state);
        }
        return false;
    }
}
