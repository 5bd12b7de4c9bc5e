package io.moeprune.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.gpu.DeviceChoice;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GpuGeneration;
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
 * process's resident set after each row (VmRSS, and VmHWM: its peak so far). Pattern-served, the experts run from
 * resident copies: after its rows it prints the resident expert bytes against the full model's experts, and the mean
 * time to match a prompt and to bring a pattern's experts in (from /metrics). {@code --mode full} or {@code patterns}
 * runs one of the two, so that each process's resident set is its own (the full rows touch every mapped expert).
 * With {@code --task NAME} every pattern-served request names that stored task (model id bench/NAME) instead of being
 * matched: one pattern's experts are resident.
 * With {@code --device cuda[:N]} each mode's rows run on the CPU first, then with the model on that GPU
 * ({@code serve --device cuda}: {@link CompletionEngine#onDevice}, {@code --context} positions a KV cache slot) in the
 * same process, and the GPU's output tokens/s are given as ratios to the CPU's.
 * Usage: bench/run serveLoad MODEL [--patterns STORE] [--mode full|patterns|both] [--task NAME] [--expert-memory SIZE]
 * [--threads N] [--clients 1,8,32] [--requests 64] [--max-new-tokens 32] [--seconds 120] [--device cuda[:N]]
 * [--gpu-memory SIZE] [--context 4096] (--requests: per row, split among the clients, at least one each).
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
               long rss, long hwm, long rssAnon, long rssFile) {
    }

    public static void main(String[] args) throws Exception {
        Path modelDir = Path.of(args[0]);
        Path store = null;
        int[] clients = {1, 8, 32};
        int requests = 64, maxTokens = 32, seconds = 120;
        String only = "both";
        String task = null;
        Long expertMemory = null;
        String device = null;
        long gpuMemory = 0;
        int context = 4096;
        for (int i = 1; i < args.length; i += 2) {
            switch (args[i]) {
                case "--patterns" -> store = Path.of(args[i + 1]);
                case "--clients" -> clients = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--requests" -> requests = Integer.parseInt(args[i + 1]);
                case "--max-new-tokens", "--max-tokens" -> maxTokens = Integer.parseInt(args[i + 1]); // old name kept one release
                case "--seconds" -> seconds = Integer.parseInt(args[i + 1]);
                case "--mode" -> only = args[i + 1];
                case "--task" -> task = args[i + 1];
                case "--threads" -> io.moeprune.kernels.Parallel.setThreads(Integer.parseInt(args[i + 1]));
                case "--expert-memory" -> expertMemory = io.moeprune.prune.ByteSize.parse(args[i + 1]);
                case "--device" -> device = args[i + 1];
                case "--gpu-memory" -> gpuMemory = io.moeprune.prune.ByteSize.parse(args[i + 1]);
                case "--context" -> context = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Tokenizer tok = Tokenizers.load(modelDir);
        List<Row> rows = new ArrayList<>();
        String experts = "";
        int maxBatch = Math.max(32, Arrays.stream(clients).max().orElse(1));
        try (Model model = Models.open(modelDir);
             Gpu gpu = device == null ? null : Gpu.open(device, gpuMemory)) {
            List<String> modes = store == null ? List.of("full") : only.equals("both") ? List.of("full", "patterns")
                    : List.of(only);
            for (String mode : modes) {
                for (String on : device == null ? List.of("cpu") : List.of("cpu", device)) {
                    boolean cpu = on.equals("cpu");
                    PatternStore patterns = mode.equals("full") ? null : PatternStore.open(store);
                    ExpertRouting routing = !cpu ? ExpertRouting.onDevice(modelDir, model, null, patterns)
                            : mode.equals("full") ? ExpertRouting.all(modelDir, model)
                            : ExpertRouting.patterns(modelDir, model, patterns, expertMemory);
                    CompletionEngine engine = cpu ? new CompletionEngine(model, tok, routing, context, maxBatch)
                            : CompletionEngine.onDevice(model, tok, routing, context, maxBatch, gpu.generation());
                    try (OpenAiServer server = OpenAiServer.start("127.0.0.1", 0, "bench", engine)) {
                        String base = "http://127.0.0.1:" + server.port();
                        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
                        String id = mode.equals("patterns") && task != null ? "bench/" + task : "bench";
                        String label = (id.equals("bench") ? mode : "pattern " + task) + (device == null ? "" : " " + on);
                        post(http, base, id, PROMPTS.getFirst(), 4);  // warm-up: first mapped reads, JIT, upload
                        java.util.Map<String, Double> warm = metrics(http, base);
                        for (int c : clients) rows.add(load(http, base, id, label, c, Math.max(c, requests), maxTokens, seconds));
                        if (cpu && mode.equals("patterns")) experts = expertLines(http, base, routing, model, warm);
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "%n%s, %d new tokens a request (greedy), %d cores%n", modelDir.getFileName(), maxTokens,
                Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "| experts | clients | requests | requests/s | p50 ms | p99 ms | output tokens/s | mean batch | VmRSS MB | VmHWM MB | RssAnon MB | RssFile MB |%n");
        System.out.printf(Locale.ROOT, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|%n");
        for (Row r : rows) {
            long[] l = r.latencyNanos().clone();
            Arrays.sort(l);
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %.2f | %.0f | %.0f | %.1f | %.1f | %d | %d | %d | %d |%n", r.mode(), r.clients(),
                    r.requests(), r.requests() / r.seconds(), percentile(l, 0.5) / 1e6, percentile(l, 0.99) / 1e6,
                    r.tokens() / r.seconds(), r.meanBatch(), r.rss() >> 20, r.hwm() >> 20, r.rssAnon() >> 20, r.rssFile() >> 20);
        }
        System.out.print(experts);
        if (device != null) System.out.print(deviceRatios(rows, device));
    }

    /** The device of the GPU rows: the weights go up with the first server's and stay for the next. */
    private record Gpu(CudaOps ops, GpuGeneration generation) implements AutoCloseable {
        static Gpu open(String device, long gpuMemory) {
            CudaOps ops = new CudaOps(GpuDevice.open(DeviceChoice.parse(device), gpuMemory));
            return new Gpu(ops, new GpuGeneration(ops, ops.device().limitBytes()));
        }

        @Override
        public void close() {
            generation.close();
            ops.close();
        }
    }

    /** Each GPU row's output tokens/s over the CPU row of the same mode and clients (run before it, this process). */
    private static String deviceRatios(List<Row> rows, String device) {
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "%n"));
        for (Row r : rows) {
            if (!r.mode().endsWith(" " + device)) continue;
            String mode = r.mode().substring(0, r.mode().length() - device.length() - 1);
            for (Row c : rows) {
                if (c.mode().equals(mode + " cpu") && c.clients() == r.clients()) {
                    out.append(String.format(Locale.ROOT, "%s, %d clients: output tokens/s on %s / on the cpu = %.2f%n",
                            mode, r.clients(), device, (r.tokens() / r.seconds()) / (c.tokens() / c.seconds())));
                }
            }
        }
        return out.toString();
    }

    /**
     * The pattern rows' resident experts against the full model's, and the mean time to match a prompt (after the
     * warm-up request: {@code warm} is /metrics then; the first match faults the first layers in) and to bring a
     * pattern's experts in (every one, the first included: each is a first read), from /metrics.
     */
    private static String expertLines(HttpClient http, String base, ExpertRouting routing, Model model,
                                      java.util.Map<String, Double> warm) throws IOException, InterruptedException {
        java.util.Map<String, Double> m = metrics(http, base);
        long all = 0;
        for (var layer : model.layers()) {
            if (layer.feedForward() instanceof io.moeprune.runtime.MoeBlock moe) {
                all += moe.experts().count() * moe.experts().expertBytes();
            }
        }
        double resident = m.getOrDefault("moeprune_resident_expert_bytes", 0.0);
        long residentLayers = routing.residentLayersFullBytes();
        return String.format(Locale.ROOT, "%nresident experts: %.1f MB = %.4f of the resident layers' experts (%.1f MB; "
                        + "the full model's routed experts: %.1f MB, the layers matching runs in full stay mapped); "
                        + "budget %.1f MB; %d resident, %d brought in, %d evicted%n"
                        + "match a prompt: %.2f ms mean over %d (after the warm-up); bring a pattern's experts in: %.1f ms mean over %d%n",
                resident / 1e6, resident / residentLayers, residentLayers / 1e6, all / 1e6,
                m.getOrDefault("moeprune_expert_memory_budget_bytes", 0.0) / 1e6,
                m.getOrDefault("moeprune_resident_experts", 0.0).longValue(),
                m.getOrDefault("moeprune_experts_brought_in_total", 0.0).longValue(),
                m.getOrDefault("moeprune_experts_evicted_total", 0.0).longValue(),
                1e3 * (m.getOrDefault("moeprune_pattern_match_seconds_total", 0.0)
                        - warm.getOrDefault("moeprune_pattern_match_seconds_total", 0.0))
                        / Math.max(1, m.getOrDefault("moeprune_pattern_matches_total", 0.0)
                        - warm.getOrDefault("moeprune_pattern_matches_total", 0.0)),
                (long) (m.getOrDefault("moeprune_pattern_matches_total", 0.0)
                        - warm.getOrDefault("moeprune_pattern_matches_total", 0.0)),
                1e3 * m.getOrDefault("moeprune_expert_bring_in_seconds_total", 0.0)
                        / Math.max(1, m.getOrDefault("moeprune_expert_bring_ins_total", 0.0)),
                m.getOrDefault("moeprune_expert_bring_ins_total", 0.0).longValue());
    }

    /** The unlabelled samples of /metrics by name. */
    private static java.util.Map<String, Double> metrics(HttpClient http, String base) throws IOException, InterruptedException {
        String text = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        java.util.Map<String, Double> out = new java.util.HashMap<>();
        for (String line : text.lines().toList()) {
            String[] f = line.split(" ");
            if (!line.startsWith("#") && f.length == 2 && !f[0].contains("{")) out.put(f[0], Double.parseDouble(f[1]));
        }
        return out;
    }

    /** {@code clients} clients share {@code total} requests, each stopping when the time is up. */
    private static Row load(HttpClient http, String base, String model, String mode, int clients, int total, int maxTokens,
                            int seconds)
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
                        int tokens = post(http, base, model, PROMPTS.get((client + i) % PROMPTS.size()), maxTokens);
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
                all.stream().mapToLong(a -> a[1]).sum(), meanBatch, status("VmRSS:"), status("VmHWM:"), status("RssAnon:"),
                status("RssFile:"));
    }

    /** One greedy completion; its completion token count. */
    private static int post(HttpClient http, String base, String model, String prompt, int maxTokens) throws IOException, InterruptedException {
        String body = JsonFiles.mapper().createObjectNode().put("model", model).put("prompt", prompt)
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
        java.util.Map<String, Double> m = metrics(http, base);
        return new double[]{m.getOrDefault("moeprune_decode_steps_total", 0.0),
                m.getOrDefault("moeprune_decode_sequence_steps_total", 0.0)};
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
