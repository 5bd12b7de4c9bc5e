package io.moeprune.serve;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A client that starts a greedy streamed completion, reads its first event and leaves (the serve tests' cancel). */
final class AbandonedStream {
    private AbandonedStream() {
    }

    static void startAndLeave(HttpClient http, String base, String prompt, int maxTokens) throws Exception {
        HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"prompt\": \"" + prompt + "\", "
                        + "\"max_tokens\": " + maxTokens + ", \"temperature\": 0, \"stream\": true}")).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        try (var in = new BufferedReader(new InputStreamReader(r.body()))) {
            assertTrue(in.readLine().startsWith("data: {"));
        }
    }
}
