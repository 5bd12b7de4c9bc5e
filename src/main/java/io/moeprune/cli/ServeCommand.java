package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.io.JsonFiles;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.patterns.PatternStore;
import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.serve.CompletionEngine;
import io.moeprune.serve.ExpertRouting;
import io.moeprune.serve.OpenAiServer;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code moeprune serve}: an OpenAI-compatible server on the CPU runtime or a GPU (continuous batching). */
@Command(name = "serve", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Serves the model over an OpenAI-compatible HTTP API: /v1/completions, /v1/chat/completions "
                + "(stream: true as server-sent events), /v1/models, /health, /metrics.",
                "With --patterns each request runs with the stored pattern nearest to its prompt (or the one its "
                        + "model id NAME/TASK names); with --mask, with that mask. Concurrent requests are decoded together, one forward pass per step for those with the same experts.",
                "With --device cuda the model stays on the GPU and each request decodes in a KV cache slot there "
                        + "(--max-batch slots of --context positions per expert set in use)."},
        footer = {"", "Example:", "  moeprune serve MODEL --patterns patterns/ --port 8000"})
final class ServeCommand implements Callable<Integer> {
    /** How long SIGTERM waits for the requests in flight before the server stops anyway. */
    static final Duration DRAIN_LIMIT = Duration.ofSeconds(60);

    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face model directory")
    Path modelDir;

    @Option(names = "--patterns", paramLabel = "STORE", description = "pattern store (`patterns build`)")
    Path patterns;

    @Option(names = "--mask", paramLabel = "MASK.json", description = "serve with this expert mask")
    Path mask;

    @Option(names = "--expert-memory", paramLabel = "SIZE", description = "bytes of experts kept resident with "
            + "--patterns or --mask, e.g. 2GB (default: room for every pattern, or the whole mask); beyond it the least "
            + "recently used experts no request in flight uses are evicted")
    String expertMemory;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "port (default ${DEFAULT-VALUE}; 0 = any free one)")
    int port;

    @Option(names = "--served-model-name", description = "model id clients use (default: the model directory's name)")
    String servedName;

    @Mixin
    ThreadsOption threads;

    @Option(names = "--max-batch", defaultValue = "" + CompletionEngine.DEFAULT_MAX_BATCH, paramLabel = "N",
            description = "requests decoded at once at most; the rest wait in arrival order (default ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--context", paramLabel = "N", converter = Ranges.Positive.class, description = "positions a "
            + "request may use, prompt and completion (default: the model's max_position_embeddings); with --device "
            + "cuda each KV cache slot on the device holds this many")
    Integer contextOption;

    @Mixin
    DeviceOption device = new DeviceOption();

    @Option(names = "--json", description = "announce the start as one line of JSON (format moeprune-serve: url, port, "
            + "routing) instead of text; the server then runs until stopped and answers in JSON as always")
    boolean json;

    @Override
    public Integer call() throws InterruptedException {
        threads.apply();
        if (patterns != null && mask != null) throw new MoepruneException("give at most one of --patterns and --mask");
        if (maxBatch < 1) throw new MoepruneException("--max-batch must be at least 1, not " + maxBatch);
        if (expertMemory != null && patterns == null && mask == null) {
            throw new MoepruneException("--expert-memory needs --patterns or --mask (without them every expert stays mapped)");
        }
        boolean cuda = device.choice().isCuda();
        if (cuda && expertMemory != null) {
            throw new MoepruneException("--expert-memory keeps experts resident in host memory and does not apply "
                    + "with --device cuda (the device holds every weight); leave it out");
        }
        Long expertBudget = expertMemory == null ? null : ByteSize.parse(expertMemory);
        // The device first: without CUDA, --device cuda is its one line before any input is read or a port bound.
        // It stays open until the process exits (as the mapped weights do: the scheduler may still run on it).
        DeviceOption.Session session = device.open();
        try {
            return serve(expertBudget, cuda);
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    private int serve(Long expertBudget, boolean cuda) throws InterruptedException {
        ModelSpec spec = ConfigReader.read(modelDir);
        PatternStore store = patterns == null ? null : PatternStore.open(patterns);
        if (store != null) {
            try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
                store.requireModel(ModelFingerprint.of(spec, ckpt), modelDir);
            }
        }
        String name = servedName != null ? servedName : modelDir.toAbsolutePath().normalize().getFileName().toString();
        Model model = Model.load(modelDir, spec);
        ExpertRouting routing;
        Tokenizer tokenizer;
        CompletionEngine engine;
        int context = context(modelDir);
        if (contextOption != null && contextOption > context) {
            model.close();
            throw new MoepruneException("--context " + contextOption + " is beyond the model's context of " + context
                    + " positions (config.json max_position_embeddings)");
        }
        if (contextOption != null) context = contextOption;
        try {
            routing = cuda ? ExpertRouting.onDevice(modelDir, model, mask, store)
                    : store != null ? ExpertRouting.patterns(modelDir, model, store, expertBudget)
                    : mask != null ? ExpertRouting.mask(modelDir, model, mask, expertBudget) : ExpertRouting.all(modelDir, model);
            tokenizer = Tokenizers.load(modelDir);
            // On cuda the weights go up and the first expert set's caches are made now: what does not fit is refused
            // before the port is bound.
            engine = cuda ? CompletionEngine.onDevice(model, tokenizer, routing, context, maxBatch,
                    (GpuGeneration) PrefillPasses.decoding())
                    : new CompletionEngine(model, tokenizer, routing, context, maxBatch);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        OpenAiServer server = OpenAiServer.start(host, port, name, engine);
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM: let the request in flight (and those queued before) finish, then stop. The mapped weights are
        // left to the process exit: unmapping them under a thread still reading would crash it. A JVM stopped by a
        // signal exits 143; a server that answered everything in flight has done its job, so it exits 0 (1 when the
        // drain ran out of time), by halting: the exit of the main thread would wait for this hook.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            boolean drained = false;
            try {
                drained = engine.drain(DRAIN_LIMIT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            server.close();
            stopped.countDown();
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(drained ? 0 : MoepruneException.FAILED);
        }));
        if (json) {
            // One compact line, so whatever started the server can read it (the port, with --port 0) and go on.
            ObjectNode o = ResultJson.object("moeprune-serve").put("model", modelDir.toString())
                    .put("served_model_name", name).put("url", "http://" + host + ":" + server.port() + "/v1")
                    .put("host", host).put("port", server.port())
                    .put("routing", store != null ? "patterns" : mask != null ? "mask" : "all")
                    .put("device", PrefillPasses.device()).put("context", context)
                    .put("mask", mask == null ? null : mask.toString())
                    .put("expert_memory_bytes", routing.expertMemoryBudget());
            if (store != null) routing.tasks().forEach(o.putArray("patterns")::add);
            System.out.println(o);
        } else {
            System.out.printf("serving %s as \"%s\" at http://%s:%d/v1%s%s%n", modelDir, name, host, server.port(),
                    store != null ? " with " + routing.tasks().size() + " patterns" : mask != null ? " with mask " + mask : "",
                    cuda ? " on " + PrefillPasses.device() : "");
        }
        System.out.flush();
        stopped.await();
        return 0;
    }

    /** The model's context length: config.json's max_position_embeddings (4096 when absent). */
    static int context(Path modelDir) {
        JsonNode c = JsonFiles.readObject(modelDir.resolve("config.json"));
        JsonNode text = c.has("text_config") ? c.get("text_config") : c;
        return text.path("max_position_embeddings").asInt(4096);
    }
}
