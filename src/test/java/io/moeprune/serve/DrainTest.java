package io.moeprune.serve;

import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What serve's SIGTERM hook does before stopping the server (CompletionEngine.drain): requests in flight are
 * answered in full, new ones are refused with a 503 JSON error (shared model; skipped without it).
 */
class DrainTest {
    @Test
    void drainFinishesRequestsInFlightAndRefusesNewOnes() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(OpenAiServerTest.MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        try (Model model = Models.open(OpenAiServerTest.MODEL)) {
            Tokenizer tok = Tokenizers.load(OpenAiServerTest.MODEL);
            CompletionEngine engine = new CompletionEngine(model, tok, ExpertRouting.all(OpenAiServerTest.MODEL, model), 2048);
            try (OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "tiny", engine)) {
                String base = "http://127.0.0.1:" + server.port();
                HttpClient http = HttpClient.newHttpClient();
                // Two requests in flight (a batch of two), each asking for 200 tokens with no way to stop early.
                String body = "{\"model\": \"tiny\", \"prompt\": \"public class A {\", \"max_tokens\": 200, "
                        + "\"temperature\": 0}";
                var first = CompletableFuture.supplyAsync(() -> post(http, base, body));
                var second = CompletableFuture.supplyAsync(() -> post(http, base, body));
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (engine.batchCounts().inFlight() < 2 && System.nanoTime() < deadline) Thread.sleep(5);
                assertEquals(2, engine.batchCounts().inFlight());

                assertTrue(engine.drain(Duration.ofSeconds(60)), "the requests in flight finished within the drain");
                assertEquals(0, engine.batchCounts().inFlight());
                for (var f : java.util.List.of(first, second)) {
                    HttpResponse<String> r = f.get();
                    assertEquals(200, r.statusCode(), r.body());
                    var usage = io.moeprune.io.JsonFiles.mapper().readTree(r.body()).get("usage");
                    var finish = io.moeprune.io.JsonFiles.mapper().readTree(r.body()).at("/choices/0/finish_reason").asText();
                    // Answered in full: 200 tokens, or fewer only at an end of sequence.
                    assertTrue(usage.get("completion_tokens").asInt() == 200 || finish.equals("stop"), r.body());
                }
                HttpResponse<String> refused = post(http, base, body);
                assertEquals(503, refused.statusCode(), refused.body());
                assertTrue(refused.body().contains("\"code\":\"shutting_down\""), refused.body());
                HttpResponse<String> refusedStream = post(http, base, body.replace("}", ", \"stream\": true}"));
                assertEquals(503, refusedStream.statusCode(), refusedStream.body());
                assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
            }
        }
    }

    private static HttpResponse<String> post(HttpClient http, String base, String body) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
