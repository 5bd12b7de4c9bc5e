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

                // 32 at once, each equal to the same request served alone.
                List<String> prompts = new ArrayList<>();
                for (int i = 0; i < 32; i++) prompts.add((i % 2 == 0 ? "Question: what is " + i + " plus 7?\nAnswer:" : "int x" + i + " = "));
                List<String> alone = new ArrayList<>();
                for (String p : prompts) alone.add(complete(client, p));
                ExecutorService pool = Executors.newFixedThreadPool(32);
                try {
                    List<Future<String>> parallel = new ArrayList<>();
                    for (String p : prompts) parallel.add(pool.submit(() -> complete(client, p)));
                    for (int i = 0; i < prompts.size(); i++) assertEquals(alone.get(i), parallel.get(i).get(), prompts.get(i));
                } finally {
                    pool.shutdown();
                }
            }
        }
    }

    private static String complete(OpenAIClient client, String prompt) {
        return client.completions().create(CompletionCreateParams.builder().model("tiny").prompt(prompt).maxTokens(4)
                .temperature(0.0).build()).choices().getFirst().text();
    }
}
