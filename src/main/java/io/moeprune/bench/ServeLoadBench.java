package io.moeprune.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.io.JsonFiles;
import io.moeprune.patterns.PatternStore;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.serve.CompletionEngine;
import io.moeprune.serve.ExpertRouting;
import io.moeprune.serve.OpenAiServer;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Load test of {@code moeprune serve}: the server runs in this process on 127.0.0.1 (any free port), once with every
 * expert and, with a pattern store, once pattern-served (each prompt matched); for each number of concurrent clients
 * every client sends greedy /v1/completions one after another (java.net.http) until it has sent its share or the time
 * is up. Prints requests/s, p50 and p99 latency, output tokens/s, the mean decode batch (from /metrics), and the
 * process's resident set after each row (VmRSS, and VmHWM: its peak so far).
 * Usage: bench/run serveLoad MODEL [--patterns STORE] [--clients 1,8,32] [--requests 64] [--max-new-tokens 32] [--seconds 120]
 * (--requests: per row, split among the clients, at least one each).
 */
public final class ServeLoadBench {
    /** Prompts of several domains, so that a pattern store matches several patterns. */
    static final List<String> PROMPTS = List.of(
            "public static void main(String[] args) {\n    System.out.println(",
            "Question: what is 17 plus 25?\nAnswer:",
            "The patient presented with a persistent cough and",
            "def fibonacci(n):\n    ",
            "The central bank raised interest rates because",
            "Once upon a time, in a small village by the sea,",
            "The kernel schedules processes by",
            "Let x be a real number such that x^2 = 9. Then");

    record Row(String mode, int clients, int requests, double seconds, long[] latencyNanos, long tokens, double meanBatch,
               long rss, long hwm) {
    }

    public static void main(String[] args) throws Exception {
        Path modelDir = Path.of(args[0]);
        Path store = null;
        int[] clients = {1, 8, 32};
        int requests = 64, maxTokens = 32, seconds = 120;
        for (int i = 1; i < args.length; i += 2) {
            switch (args[i]) {
                case "--patterns" -> store = Path.of(args[i + 1]);
                case "--clients" -> clients = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--requests" -> requests = Integer.parseInt(args[i + 1]);
                case "--max-new-tokens", "--max-tokens" -> maxTokens = Integer.parseInt(args[i + 1]); // old name kept one release
                case "--seconds" -> seconds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Tokenizer tok = Tokenizers.load(modelDir);
        List<Row> rows = new ArrayList<>();
        try (Model model = Models.open(modelDir)) {
            int context = 4096;
            List<String> modes = store == null ? List.of("full") : List.of("full", "patterns");
            for (String mode : modes) {
                ExpertRouting routing = mode.equals("full") ? ExpertRouting.all(modelDir, model)
                        : ExpertRouting.patterns(modelDir, model, PatternStore.open(store));
                try (OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "bench",
                        new CompletionEngine(model, tok, routing, context, Math.max(32, Arrays.stream(clients).max().orElse(1))))) {
                    String base = "http://127.0.0.1:" + server.port();
                    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
                    post(http, base, PROMPTS.getFirst(), 4);  // warm-up: first mapped reads, JIT
                    for (int c : clients) rows.add(load(http, base, mode, c, Math.max(c, requests), maxTokens, seconds));
                }
            }
        }
        System.out.printf(Locale.ROOT, "%n%s, %d new tokens a request (greedy), %d cores%n", modelDir.getFileName(), maxTokens,
                Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "| experts | clients | requests | requests/s | p50 ms | p99 ms | output tokens/s | mean batch | VmRSS MB | VmHWM MB |%n");
        System.out.printf(Locale.ROOT, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|%n");
        for (Row r : rows) {
            long[] l = r.latencyNanos().clone();
            Arrays.sort(l);
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %.2f | %.0f | %.0f | %.1f | %.1f | %d | %d |%n", r.mode(), r.clients(),
                    r.requests(), r.requests() / r.seconds(), percentile(l, 0.5) / 1e6, percentile(l, 0.99) / 1e6,
                    r.tokens() / r.seconds(), r.meanBatch(), r.rss() >> 20, r.hwm() >> 20);
        }
    }

    /** {@code clients} clients share {@code total} requests, each stopping when the time is up. */
    private static Row load(HttpClient http, String base, String mode, int clients, int total, int maxTokens, int seconds)
            throws Exception {
        double[] before = batchCounters(http, base);
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        long t0 = System.nanoTime();
        List<Future<List<long[]>>> futures = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(clients)) {
            for (int c = 0; c < clients; c++) {
                int client = c, share = total / clients + (c < total % clients ? 1 : 0);
                futures.add(pool.submit(() -> {
                    List<long[]> done = new ArrayList<>();  // {latency nanos, completion tokens}
                    for (int i = 0; i < share && System.nanoTime() < deadline; i++) {
                        long s = System.nanoTime();
                        int tokens = post(http, base, PROMPTS.get((client + i) % PROMPTS.size()), maxTokens);
                        done.add(new long[]{System.nanoTime() - s, tokens});
                    }
                    return done;
                }));
            }
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        List<long[]> all = new ArrayList<>();
        for (Future<List<long[]>> f : futures) all.addAll(f.get());
        double[] after = batchCounters(http, base);
        double meanBatch = (after[1] - before[1]) / Math.max(1, after[0] - before[0]);
        System.out.printf(Locale.ROOT, "%s, %d clients: %d requests in %.1f s%n", mode, clients, all.size(), elapsed);
        return new Row(mode, clients, all.size(), elapsed, all.stream().mapToLong(a -> a[0]).toArray(),
                all.stream().mapToLong(a -> a[1]).sum(), meanBatch, status("VmRSS:"), status("VmHWM:"));
    }

    /** One greedy completion; its completion token count. */
    private static int post(HttpClient http, String base, String prompt, int maxTokens) throws IOException, InterruptedException {
        String body = JsonFiles.mapper().createObjectNode().put("model", "bench").put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0).toString();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .timeout(Duration.ofMinutes(5)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode() + ": " + r.body());
        JsonNode json = JsonFiles.mapper().readTree(r.body());
        return json.at("/usage/completion_tokens").asInt();
    }

    /** moeprune_decode_steps_total and moeprune_decode_sequence_steps_total of /metrics. */
    private static double[] batchCounters(HttpClient http, String base) throws IOException, InterruptedException {
        String text = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double[] out = new double[2];
        for (String line : text.lines().toList()) {
            if (line.startsWith("moeprune_decode_steps_total ")) out[0] = Double.parseDouble(line.split(" ")[1]);
            if (line.startsWith("moeprune_decode_sequence_steps_total ")) out[1] = Double.parseDouble(line.split(" ")[1]);
        }
        return out;
    }

    private static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }

    /** A size line of /proc/self/status in bytes (-1 where there is none). */
    private static long status(String key) throws IOException {
        Path p = Path.of("/proc/self/status");
        if (!Files.exists(p)) return -1;
        for (String line : Files.readAllLines(p)) {
            if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        return -1;
    }
}
