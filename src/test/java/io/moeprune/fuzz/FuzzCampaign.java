package io.moeprune.fuzz;

import io.moeprune.MoepruneException;
import io.moeprune.inspect.Inspection;
import io.moeprune.inspect.InspectionJson;
import io.moeprune.inspect.InspectionText;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Perplexity;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.LogicalTensor;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * The fault campaign of issue 17: corrupts shards, config.json, tokenizer.json and index files of the conformance
 * fixtures, and runs each through the reader, inspect and a model load plus forward pass, in process, with a
 * per-case timeout. Every outcome must be accepted or a clean one-line error naming a file of the case.
 *
 * <p>Run: {@code ./mvnw -q test-compile && java --add-modules jdk.incubator.vector -cp "target/classes:target/test-classes:$(cat
 * target/test-classpath.txt)" io.moeprune.fuzz.FuzzCampaign --shards 10000 --json 2000} (docs/reliability.md
 * has the exact command); {@link FuzzCampaignTest} runs a short seeded campaign in the normal test suite.
 */
public final class FuzzCampaign {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");
    static final String SHARDED = "qwen3_moe";

    /** What a campaign covers. */
    record Settings(int shards, int jsonFiles, long seed, long timeoutMillis) {
    }

    enum Stage { READER, INSPECT, LOAD_AND_FORWARD }

    /** The summary: one tally per (input file, stage), and how many cases each mutation class made. */
    record Summary(Map<String, Tally> rows, Map<String, Integer> classes, int shards, int jsonFiles, long millis) {
        int total(Outcome o) {
            return rows.values().stream().mapToInt(t -> t.count(o)).sum();
        }

        String table() {
            StringBuilder b = new StringBuilder("| input | stage | cases | accepted | clean errors | unexpected | hangs |\n"
                    + "|---|---|---:|---:|---:|---:|---:|\n");
            rows.forEach((key, t) -> {
                String[] k = key.split(" / ");
                b.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %d | %d |%n", k[0], k[1], t.total(),
                        t.count(Outcome.ACCEPTED), t.count(Outcome.CLEAN_ERROR), t.count(Outcome.UNEXPECTED),
                        t.count(Outcome.HANG)));
            });
            return b.toString();
        }

        String classTable() {
            StringBuilder b = new StringBuilder("| input | mutation class | cases |\n|---|---|---:|\n");
            classes.forEach((key, n) -> {
                String[] k = key.split(" / ");
                b.append("| ").append(k[0]).append(" | ").append(k[1]).append(" | ").append(n).append(" |\n");
            });
            return b.toString();
        }

        List<String> examples() {
            List<String> out = new ArrayList<>();
            rows.forEach((key, t) -> t.examples().forEach(e -> out.add(key + ": " + e)));
            return out;
        }
    }

    private final Settings settings;
    private final Path work;
    private final Map<String, Tally> rows = new LinkedHashMap<>();
    private final Map<String, Integer> classes = new java.util.TreeMap<>();
    private ExecutorService runner = newRunner();

    private FuzzCampaign(Settings settings, Path work) {
        this.settings = settings;
        this.work = work;
    }

    public static void main(String[] args) throws Exception {
        int shards = 10_000, json = 2_000;
        long seed = 17, timeout = 10_000;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--shards" -> shards = Integer.parseInt(args[i + 1]);
                case "--json" -> json = Integer.parseInt(args[i + 1]);
                case "--seed" -> seed = Long.parseLong(args[i + 1]);
                case "--timeout-ms" -> timeout = Long.parseLong(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Path work = Files.createTempDirectory("moeprune-fuzz");
        Summary s = run(new Settings(shards, json, seed, timeout), work);
        System.out.printf(Locale.ROOT, "%s, seed %d, %d shards, %d JSON files, %.0f s%n%n", Instant.now(), seed,
                s.shards(), s.jsonFiles(), s.millis() / 1000.0);
        System.out.print(s.table());
        System.out.println();
        System.out.print(s.classTable());
        s.examples().forEach(e -> System.out.println("  " + e));
        System.exit(s.total(Outcome.UNEXPECTED) + s.total(Outcome.HANG) == 0 ? 0 : 1);
    }

    static Summary run(Settings settings, Path work) throws IOException {
        Parallel.setThreads(1);   // one case at a time, each single-threaded: predictable on a shared machine
        FuzzCampaign c = new FuzzCampaign(settings, work);
        long t0 = System.nanoTime();
        try {
            c.campaign();
        } finally {
            c.runner.shutdownNow();
        }
        return new Summary(c.rows, c.classes, settings.shards(), settings.jsonFiles(), (System.nanoTime() - t0) / 1_000_000);
    }

    private void campaign() throws IOException {
        Random rnd = new Random(settings.seed());
        List<Path> singles;
        try (Stream<Path> dirs = Files.list(FIXTURES)) {
            singles = dirs.filter(d -> Files.isRegularFile(d.resolve(Checkpoint.SINGLE))).sorted(Comparator.naturalOrder()).toList();
        }
        for (int i = 0; i < settings.shards(); i++) {
            Path fixture = singles.get(rnd.nextInt(singles.size()));
            ShardMutator.Kind kind = ShardMutator.Kind.values()[i % ShardMutator.Kind.values().length];
            byte[] shard = ShardMutator.mutate(Files.readAllBytes(fixture.resolve(Checkpoint.SINGLE)), kind, rnd);
            Path dir = caseDir("s" + i);
            link(fixture.resolve(ConfigReader.CONFIG), dir.resolve(ConfigReader.CONFIG));
            Files.write(dir.resolve(Checkpoint.SINGLE), shard);
            String what = "shard";
            counted(what, kind.name());
            stage(what, Stage.READER, dir, i, () -> readAll(dir.resolve(Checkpoint.SINGLE)));
            modelStages(what, dir, i);
            delete(dir);
        }
        for (int j = 0; j < settings.jsonFiles(); j++) {
            JsonMutator.Kind kind = JsonMutator.Kind.values()[rnd.nextInt(JsonMutator.Kind.values().length)];
            String label = kind.name();
            Path dir = caseDir("j" + j);
            switch (j % 4) {
                case 0, 1 -> {
                    Path fixture = singles.get(rnd.nextInt(singles.size()));
                    link(fixture.resolve(Checkpoint.SINGLE), dir.resolve(Checkpoint.SINGLE));
                    Files.write(dir.resolve(ConfigReader.CONFIG), JsonMutator.mutate(
                            Files.readAllBytes(fixture.resolve(ConfigReader.CONFIG)), kind, rnd, JsonMutator::config));
                    counted("config.json", kind == JsonMutator.Kind.SPECIFIC ? "SIZE_KEYS" : label);
                    stage("config.json", Stage.READER, dir, j, () -> ConfigReader.read(dir));
                    modelStages("config.json", dir, j);
                }
                case 2 -> {
                    Files.write(dir.resolve("tokenizer.json"), JsonMutator.mutate(
                            TOKENIZER.getBytes(StandardCharsets.UTF_8), kind, rnd, JsonMutator::tokenizer));
                    String what = "tokenizer.json";
                    counted(what, kind == JsonMutator.Kind.SPECIFIC ? "IDS_MERGES_FIELDS" : label);
                    stage(what, Stage.READER, dir, j, () -> Tokenizers.load(dir));
                    stage(what, Stage.LOAD_AND_FORWARD, dir, j, () -> {
                        Tokenizer t = Tokenizers.load(dir);
                        t.decode(t.encode("ab aab <|im_end|> héllo\n\tx"), false);
                    });
                }
                default -> {
                    Path fixture = FIXTURES.resolve(SHARDED);
                    try (Stream<Path> files = Files.list(fixture)) {
                        for (Path f : files.toList()) {
                            if (!f.getFileName().toString().equals(Checkpoint.INDEX)) link(f, dir.resolve(f.getFileName()));
                        }
                    }
                    Files.write(dir.resolve(Checkpoint.INDEX), JsonMutator.mutate(
                            Files.readAllBytes(fixture.resolve(Checkpoint.INDEX)), kind, rnd, JsonMutator::index));
                    String what = "index";
                    counted(what, kind == JsonMutator.Kind.SPECIFIC ? "SHARDS_AND_NAMES" : label);
                    stage(what, Stage.READER, dir, j, () -> {
                        try (Checkpoint c = Checkpoint.open(dir)) {
                            c.names().forEach(c::info);
                        }
                    });
                    modelStages(what, dir, j);
                }
            }
            delete(dir);
        }
    }

    private void counted(String input, String mutationClass) {
        classes.merge(input + " / " + mutationClass.toLowerCase(Locale.ROOT).replace('_', ' '), 1, Integer::sum);
    }

    private void modelStages(String what, Path dir, int i) {
        stage(what, Stage.INSPECT, dir, i, () -> {
            Inspection in = Inspection.of(dir);
            InspectionText.render(in);
            InspectionJson.of(in);
        });
        stage(what, Stage.LOAD_AND_FORWARD, dir, i, () -> {
            ModelSpec spec = ConfigReader.read(dir);
            try (Model m = Model.load(dir, spec)) {
                int v = spec.vocabSize();
                new Perplexity(m, null).score(new int[]{1 % v, 7 % v, 3 % v, 11 % v, 5 % v});
            }
        });
    }

    /** Reads every tensor of a file, as values (the reader stage). */
    private static void readAll(Path file) {
        try (Checkpoint c = Checkpoint.openFile(file)) {
            for (LogicalTensor t : c.logical().all()) {
                if (t.toFloatArray().length != t.elementCount()) throw new AssertionError("short read of " + t);
            }
        }
    }

    private void stage(String what, Stage stage, Path dir, int i, ThrowingRunnable body) {
        Tally tally = rows.computeIfAbsent(what + " / " + stage.name().toLowerCase(Locale.ROOT).replace('_', ' '),
                k -> new Tally());
        Future<?> f = runner.submit(() -> {
            body.run();
            return null;
        });
        Outcome o;
        String detail = "";
        try {
            f.get(settings.timeoutMillis(), TimeUnit.MILLISECONDS);
            o = Outcome.ACCEPTED;
        } catch (TimeoutException e) {
            f.cancel(true);
            runner.shutdownNow();
            runner = newRunner();   // the stuck thread is abandoned (daemon), the campaign goes on
            o = Outcome.HANG;
            detail = "timed out after " + settings.timeoutMillis() + " ms";
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable t = e.getCause();
            o = classify(t, dir);
            detail = t.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        tally.add(o, "case " + i + ": " + detail.replace('\n', '|'));
    }

    /** Clean: a MoepruneException on one line that names a file of the case (or the case directory). */
    static Outcome classify(Throwable t, Path dir) {
        if (t instanceof MoepruneException e) {
            String m = e.getMessage();
            boolean oneLine = m != null && m.indexOf('\n') < 0 && m.indexOf('\r') < 0;
            return oneLine && m.startsWith(dir.toString()) ? Outcome.CLEAN_ERROR : Outcome.UNEXPECTED;
        }
        return Outcome.UNEXPECTED;
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static ExecutorService newRunner() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-case");
            t.setDaemon(true);
            return t;
        });
    }

    private Path caseDir(String name) throws IOException {
        return Files.createDirectories(work.resolve(name));
    }

    /** A hard link where the file system allows it (fixtures are only read), else a copy. */
    private static void link(Path from, Path to) throws IOException {
        try {
            Files.createLink(to, from.toAbsolutePath());
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(from, to);
        }
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) Files.delete(f);
        }
        Files.delete(dir);
    }

    /** A small byte-level BPE tokenizer.json with the sections real ones have. */
    static final String TOKENIZER = """
            {"version": "1.0",
             "added_tokens": [{"id": 6, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true}],
             "normalizer": {"type": "NFC"},
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
             "post_processor": null,
             "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                       "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                       "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġa": 4, "aab": 5, "x": 7, "h": 8, "é": 9},
                       "merges": ["a b", "Ġ a", "a ab"]}}
            """;
}
