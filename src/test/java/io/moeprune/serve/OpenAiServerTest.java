package io.moeprune.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server against the official OpenAI Java SDK and plain HTTP, on the shared trained model (skipped without it). */
class OpenAiServerTest {
    static final Path MODEL = Path.of("../shared/models/moe-tiny-7d");
    static Model model;
    static Tokenizer tokenizer;
    static OpenAiServer server;
    static OpenAIClient client;
    static String base;

    @BeforeAll
    static void start() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        model = Models.open(MODEL);
        tokenizer = Tokenizers.load(MODEL);
        server = OpenAiServer.start("127.0.0.1", 0, "tiny",
                new CompletionEngine(model, tokenizer, ExpertRouting.all(MODEL, model), 2048));
        base = "http://127.0.0.1:" + server.port();
        client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").build();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (model != null) model.close();
    }

    /** What the runtime generates greedily on its own. */
    static String greedy(String text, int max) {
        Generator.Result r = new Generator(model).generate(tokenizer.encode(text), max, Sampler.greedy(),
                tokenizer.eosIds(), t -> true);
        return tokenizer.decode(r.tokens(), true);
    }

    @Test
    void completionIsTheRuntimesGreedyOutput() {
        String prompt = "Question: What is 12 times 3?\nAnswer:";
        Completion c = client.completions().create(CompletionCreateParams.builder().model("tiny").prompt(prompt)
                .maxTokens(12).temperature(0.0).build());
        assertEquals(greedy(prompt, 12), c.choices().getFirst().text());
        assertEquals(tokenizer.encode(prompt).length, c.usage().orElseThrow().promptTokens());
    }

    @Test
    void chatAndItsStreamAgree() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("tiny")
                .addUserMessage("Write a Java method that adds two ints.").maxCompletionTokens(16).temperature(0.0).build();
        ChatCompletion cc = client.chat().completions().create(params);
        String content = cc.choices().getFirst().message().content().orElseThrow();
        String rendered = tokenizer.applyChatTemplate(List.of(Map.of("role", "user",
                "content", "Write a Java method that adds two ints.")), true);
        assertEquals(greedy(rendered, 16), content);
        StringBuilder streamed = new StringBuilder();
        int chunks = 0;
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params)) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) s.stream()::iterator) {
                chunks++;
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append));
            }
        }
        assertEquals(content, streamed.toString());
        assertTrue(chunks >= 2, "text arrives in pieces, then the finish reason");
    }

    @Test
    void badRequestsAreOpenAiErrorsAndTheServerStaysHealthy() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        ObjectMapper om = new ObjectMapper();
        String longPrompt = "word ".repeat(3000);
        Object[][] cases = {
                {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": ", 400, null},
                {"/v1/completions", "{\"model\": \"other\", \"prompt\": \"x\"}", 404, "model"},
                {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"x\", \"temperature\": 3}", 400, "temperature"},
                {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"x\", \"top_p\": 0}", 400, "top_p"},
                {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"x\", \"max_tokens\": -1}", 400, "max_tokens"},
                {"/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"" + longPrompt + "\"}", 400, "prompt"},
                {"/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": []}", 400, "messages"},
        };
        for (Object[] c : cases) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + c[0]))
                    .POST(HttpRequest.BodyPublishers.ofString((String) c[1])).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(c[2], r.statusCode(), r.body());
            JsonNode err = om.readTree(r.body()).get("error");
            assertFalse(err.get("message").asText().isEmpty());
            assertEquals("invalid_request_error", err.get("type").asText());
            if (c[3] != null) assertEquals(c[3], err.get("param").asText(), r.body());
        }
        HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode());
        JsonNode models = om.readTree(http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                HttpResponse.BodyHandlers.ofString()).body());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        String metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(metrics.contains("moeprune_requests_total{endpoint=\"/v1/completions\",status=\"404\"} 1"), metrics);
    }

    @Test
    void aClientThatDisconnectsMidStreamStopsItsGeneration() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        long before = metric(http, "moeprune_decode_sequence_steps_total");
        AbandonedStream.startAndLeave(http, base, "public class A {", 1500);
        // The abandoned sequence leaves the batch once a write fails: wait until nothing is in flight.
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (metric(http, "moeprune_requests_in_flight") > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        assertEquals(0, metric(http, "moeprune_requests_in_flight"));
        long abandoned = metric(http, "moeprune_decode_sequence_steps_total") - before;
        assertTrue(abandoned < 300, abandoned + " tokens decoded for a client that left after the first");
    }

    static long metric(HttpClient http, String name) throws Exception {
        return ServerMetrics.read(http, base, name);
    }
}
