package io.moeprune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;
import java.util.stream.Stream;

/**
 * Tokenizer speed: tokens per second of thread CPU time (one thread) encoding every development text, ours against Hugging Face
 * tokenizers (Rust, through DJL) when its jars are on the class path or in the local Maven repository.
 * Usage: bench/run tokenizer [SHARED_DIR [NAME...]] (default ../shared, every tokenizer); besides the shared
 * model's it benchmarks the family tokenizers under .cache/tokenizers when scripts/test-setup.sh fetched them.
 * Set -Dbench.reference=false (JAVA_OPTS) to skip the reference.
 */
public final class TokenizerBench {
    /** Thread CPU time, not wall time: shared machines are busy, and both tokenizers run on the calling thread. */
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    private TokenizerBench() {
    }

    public static void main(String[] args) throws Exception {
        Path shared = Path.of(args.length > 0 ? args[0] : "../shared");
        List<String> texts = devTexts(shared.resolve("data/domains"));
        long bytes = texts.stream().mapToLong(t -> t.getBytes(StandardCharsets.UTF_8).length).sum();
        Map<String, Path> models = new LinkedHashMap<>();
        models.put("moe-tiny-7d", shared.resolve("models/moe-tiny-7d"));
        Path cache = Path.of(".cache/tokenizers");
        for (String family : List.of("qwen3", "deepseek_v3", "gptoss", "llama2")) {
            if (Files.isRegularFile(cache.resolve(family).resolve("tokenizer.json"))) {
                models.put(family, cache.resolve(family));
            }
        }
        if (args.length > 1) {
            models.keySet().retainAll(List.of(args).subList(1, args.length));
        }
        Reference reference = Boolean.parseBoolean(System.getProperty("bench.reference", "true")) ? Reference.find() : null;
        System.out.printf("%d development texts, %.1f MB; reference: %s%n", texts.size(), bytes / 1e6,
                reference == null ? "none (DJL tokenizers jars not found)" : "HF tokenizers via DJL");
        System.out.printf("%-12s %-10s %9s %10s %12s %8s%n", "tokenizer", "impl", "load ms", "tokens", "tokens/s", "MB/s");
        for (Map.Entry<String, Path> m : models.entrySet()) {
            long t0 = System.nanoTime();
            Tokenizer ours = Tokenizers.load(m.getValue());
            long loadNs = System.nanoTime() - t0;
            row(m.getKey(), "moeprune", loadNs, texts, bytes, t -> ours.encode(t).length);
            if (reference != null) {
                t0 = System.nanoTime();
                Object handle = reference.load(m.getValue().resolve("tokenizer.json"));
                loadNs = System.nanoTime() - t0;
                row(m.getKey(), "hf-rust", loadNs, texts, bytes, t -> reference.count(handle, t));
            }
        }
    }

    private static void row(String name, String impl, long loadNs, List<String> texts, long bytes, ToIntFunction<String> encode) {
        // Warm-up on a quarter of the texts (JIT; and fills our word cache as real calibration use would).
        for (int i = 0; i < texts.size(); i += 4) {
            encode.applyAsInt(texts.get(i));
        }
        long tokens = 0;
        long t0 = CPU.getCurrentThreadCpuTime();
        for (String t : texts) {
            tokens += encode.applyAsInt(t);
        }
        double s = (CPU.getCurrentThreadCpuTime() - t0) / 1e9;
        System.out.printf("%-12s %-10s %9.0f %10d %12.0f %8.2f%n", name, impl, loadNs / 1e6, tokens, tokens / s, bytes / 1e6 / s);
    }

    private static List<String> devTexts(Path domains) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> texts = new ArrayList<>();
        try (Stream<Path> files = Files.list(domains)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".dev.jsonl")).sorted().toList()) {
                for (String line : Files.readAllLines(f)) {
                    if (!line.isBlank()) {
                        texts.add(json.readTree(line).path("text").asText());
                    }
                }
            }
        }
        return texts;
    }

    /** Hugging Face tokenizers through DJL's JNI binding, called reflectively (it is a test-scope dependency). */
    private record Reference(Method newInstance, Method getHandle, Object lib, Method encode, Method getTokenIds,
                             Method deleteEncoding) {
        static Reference find() {
            System.setProperty("ai.djl.offline", "true");
            ClassLoader loader = TokenizerBench.class.getClassLoader();
            try {
                loader.loadClass("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer");
            } catch (ClassNotFoundException e) {
                loader = fromMavenRepository();
                if (loader == null) {
                    return null;
                }
            }
            // DJL finds its native library's properties through the context class loader.
            Thread.currentThread().setContextClassLoader(loader);
            try {
                Class<?> tok = loader.loadClass("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer");
                Class<?> libClass = loader.loadClass("ai.djl.huggingface.tokenizers.jni.TokenizersLibrary");
                Object lib = libClass.getField("LIB").get(null);
                return new Reference(tok.getMethod("newInstance", Path.class, Map.class), tok.getMethod("getHandle"), lib,
                        libClass.getMethod("encode", long.class, String.class, boolean.class),
                        libClass.getMethod("getTokenIds", long.class), libClass.getMethod("deleteEncoding", long.class));
            } catch (ReflectiveOperationException | LinkageError e) {
                System.out.println("reference unavailable: " + e);
                return null;
            }
        }

        private static ClassLoader fromMavenRepository() {
            Path repo = Path.of(System.getProperty("user.home"), ".m2/repository");
            String[] jars = {"ai/djl/huggingface/tokenizers/0.38.0/tokenizers-0.38.0.jar", "ai/djl/api/0.38.0/api-0.38.0.jar",
                "com/google/code/gson/gson/2.13.1/gson-2.13.1.jar", "net/java/dev/jna/jna/5.17.0/jna-5.17.0.jar",
                "org/apache/commons/commons-compress/1.27.1/commons-compress-1.27.1.jar",
                "commons-io/commons-io/2.16.1/commons-io-2.16.1.jar", "commons-codec/commons-codec/1.17.1/commons-codec-1.17.1.jar"};
            List<URL> urls = new ArrayList<>();
            try {
                for (String j : jars) {
                    Path p = repo.resolve(j);
                    if (!Files.isRegularFile(p)) {
                        return null;
                    }
                    urls.add(p.toUri().toURL());
                }
            } catch (IOException e) {
                return null;
            }
            return new URLClassLoader(urls.toArray(URL[]::new), TokenizerBench.class.getClassLoader());
        }

        Object load(Path tokenizerJson) {
            try {
                return newInstance.invoke(null, tokenizerJson, Map.of("addSpecialTokens", "false", "truncation", "false"));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        int count(Object tokenizer, String text) {
            try {
                long h = (long) getHandle.invoke(tokenizer);
                long enc = (long) encode.invoke(lib, h, text, false);
                int n = ((long[]) getTokenIds.invoke(lib, enc)).length;
                deleteEncoding.invoke(lib, enc);
                return n;
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
