package io.moeprune.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.io.JsonFiles;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real SIGTERM to {@code moeprune serve} in a child JVM (shared model; skipped without it): the two streams in
 * flight finish with their full answers, a request after the signal is refused, and the process exits 0 within the
 * drain limit, leaving no process behind.
 */
class ServeSigtermTest {
    static final int TOKENS = 64;

    @Test
    void sigtermDrainsTheStreamsInFlightThenExitsZero() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(OpenAiServerTest.MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "--add-modules",
                "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), "io.moeprune.cli.Main", "serve",
                OpenAiServerTest.MODEL.toString(), "--port", "0", "--json", "--served-model-name", "tiny", "--threads", "2")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String base = "http://127.0.0.1:" + JsonFiles.mapper().readTree(out.readLine()).get("port").asInt();
            HttpClient http = HttpClient.newHttpClient();
            List<String> prompts = List.of("public class A {", "The patient presented with");
            List<String> alone = new ArrayList<>();
            for (String prompt : prompts) {
                JsonNode r = JsonFiles.mapper().readTree(http.send(request(base, prompt, false), HttpResponse.BodyHandlers.ofString()).body());
                alone.add(r.at("/choices/0/text").asText());
            }
            // Two streams in flight: each has sent its first event before the signal.
            CountDownLatch started = new CountDownLatch(2);
            List<CompletableFuture<String>> streams = new ArrayList<>();
            for (String prompt : prompts) {
                streams.add(CompletableFuture.supplyAsync(() -> stream(http, base, prompt, started)));
            }
            assertTrue(started.await(60, TimeUnit.SECONDS), "both streams started");
            long signalled = System.nanoTime();
            p.destroy();  // SIGTERM on Linux
            // A request after the signal: refused with 503 shutting_down, or no longer connected at all.
            Thread.sleep(200);
            try {
                HttpResponse<String> late = http.send(request(base, "late", false), HttpResponse.BodyHandlers.ofString());
                assertEquals(503, late.statusCode(), late.body());
                assertTrue(late.body().contains("\"code\":\"shutting_down\""), late.body());
            } catch (ConnectException gone) {
                // The server has stopped listening: refused as well.
            }
            for (int i = 0; i < prompts.size(); i++) assertEquals(alone.get(i), streams.get(i).get(60, TimeUnit.SECONDS), prompts.get(i));
            assertTrue(p.waitFor(60 + 10, TimeUnit.SECONDS), "exited within the drain limit");
            assertEquals(0, p.exitValue());
            System.out.printf("ServeSigtermTest: exited 0 %.1f s after SIGTERM, both streams answered in full%n",
                    (System.nanoTime() - signalled) / 1e9);
            assertEquals(0, p.toHandle().descendants().count(), "no process left behind");
            assertThrows(ConnectException.class, () -> http.send(request(base, "after", false),
                    HttpResponse.BodyHandlers.ofString()), "the port is closed");
        } finally {
            p.destroyForcibly();
        }
    }

    private static HttpRequest request(String base, String prompt, boolean stream) {
        String body = JsonFiles.mapper().createObjectNode().put("model", "tiny").put("prompt", prompt)
                .put("max_tokens", TOKENS).put("temperature", 0).put("stream", stream).toString();
        return HttpRequest.newBuilder(URI.create(base + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    /** The text of a streamed completion, counting {@code started} down at its first event; ends at [DONE]. */
    private static String stream(HttpClient http, String base, String prompt, CountDownLatch started) {
        try (InputStream in = http.send(request(base, prompt, true), HttpResponse.BodyHandlers.ofInputStream()).body();
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            StringBuilder text = new StringBuilder();
            boolean first = true;
            for (String line; (line = r.readLine()) != null; ) {
                if (!line.startsWith("data: ")) continue;
                if (first) started.countDown();
                first = false;
                String data = line.substring(6);
                if (data.equals("[DONE]")) return text.toString();
                text.append(JsonFiles.mapper().readTree(data).at("/choices/0/text").asText());
            }
            throw new IllegalStateException("the stream ended without [DONE] after: " + text);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
