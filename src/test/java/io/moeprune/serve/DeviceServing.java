package io.moeprune.serve;

import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.io.JsonFiles;
import io.moeprune.runtime.Model;
import io.moeprune.tokenizer.Tokenizer;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Greedy completions from a server whose model runs on a device ({@link CompletionEngine#onDevice}), through a client
 * of the test's choice (the OpenAI Java SDK; plain HTTP where the SDK is not on the class path, the GPU machine):
 * each request alone, then all at once, more of them than the batch has slots and of different lengths, so that
 * requests join while others decode and leave at different steps. What GpuServingTest (HostOps) and ServeCudaTest
 * compare.
 */
final class DeviceServing {
    static final int REQUESTS = 10, MAX_BATCH = 4, CONTEXT = 128;

    /** Each request's answer alone and concurrent, and the decode steps and sequence steps of the concurrent run. */
    record Run(List<String> prompts, List<Integer> maxTokens, List<String> alone, List<String> concurrent, long steps,
               long sequenceSteps) {
    }

    /** A client of the server at a base URL: the text of a greedy completion of at most maxTokens tokens. */
    interface Client {
        String complete(String prompt, int maxTokens) throws Exception;
    }

    private DeviceServing() {
    }

    /** /v1/completions through java.net.http. */
    static Client plainHttp(String base) {
        HttpClient http = HttpClient.newHttpClient();
        return (prompt, maxTokens) -> {
            String body = "{\"model\": \"tiny\", \"temperature\": 0, \"max_tokens\": " + maxTokens + ", \"prompt\": "
                    + JsonFiles.mapper().writeValueAsString(prompt) + "}";
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) throw new IllegalStateException(r.statusCode() + ": " + r.body());
            return JsonFiles.mapper().readTree(r.body()).at("/choices/0/text").asText();
        };
    }

    static List<String> prompts() {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            prompts.add(i % 2 == 0 ? "Question: what is " + i + " plus 7?\nAnswer:" : "public static int f" + i + "(int x) {");
        }
        return prompts;
    }

    /** Tokens request i may generate: 4 to 16, so that sequences leave the batch at different steps. */
    static int maxTokens(int i) {
        return 4 + 3 * (i % 5);
    }

    static Run run(Model model, Path modelDir, Tokenizer tok, DeviceOps ops, long bound,
                   java.util.function.Function<String, Client> clients) throws Exception {
        try (GpuGeneration generation = new GpuGeneration(ops, bound);
             OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "tiny", CompletionEngine.onDevice(model, tok,
                     ExpertRouting.onDevice(modelDir, model, null, null), CONTEXT, MAX_BATCH, generation))) {
            String base = "http://127.0.0.1:" + server.port();
            Client client = clients.apply(base);
            List<String> prompts = prompts();
            List<Integer> max = new ArrayList<>();
            List<String> alone = new ArrayList<>(), concurrent = new ArrayList<>();
            for (int i = 0; i < REQUESTS; i++) {
                max.add(maxTokens(i));
                alone.add(client.complete(prompts.get(i), max.get(i)));
            }
            HttpClient http = HttpClient.newHttpClient();
            long steps0 = ServerMetrics.read(http, base, "moeprune_decode_steps_total");
            long sequences0 = ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total");
            ExecutorService pool = Executors.newFixedThreadPool(REQUESTS);
            try {
                List<Future<String>> answers = new ArrayList<>();
                for (int i = 0; i < REQUESTS; i++) {
                    String p = prompts.get(i);
                    int m = max.get(i);
                    answers.add(pool.submit(() -> client.complete(p, m)));
                    if (i == REQUESTS / 2) Thread.sleep(30);  // the second half arrives while the first decodes
                }
                for (Future<String> f : answers) concurrent.add(f.get());
            } finally {
                pool.shutdown();
            }
            return new Run(prompts, max, alone, concurrent,
                    ServerMetrics.read(http, base, "moeprune_decode_steps_total") - steps0,
                    ServerMetrics.read(http, base, "moeprune_decode_sequence_steps_total") - sequences0);
        }
    }
}
