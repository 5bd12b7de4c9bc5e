package io.moeprune.cli;

import io.moeprune.io.JsonFiles;
import io.moeprune.prune.ByteSize;
import io.moeprune.prune.PruneResult;
import io.moeprune.prune.Pruner;
import io.moeprune.prune.RuntimeVerification;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/** {@code moeprune prune MODEL --mask MASK.json --out DIR}: writes the smaller checkpoint (docs/pruning.md). */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Writes a smaller Hugging Face checkpoint keeping only the experts of a mask, renumbered "
                + "0..K-1; loads in unmodified Hugging Face transformers (checked for every family; vLLM not tested). Every MoE "
                + "layer must keep the same number.")
public final class PruneCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "Hugging Face model directory (config.json + safetensors)")
    Path model;

    @Option(names = "--mask", required = true, paramLabel = "MASK.json", description = "expert mask from `moeprune select`")
    Path mask;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output model directory")
    Path out;

    @Option(names = "--force", description = "replace DIR if it exists (only after the new model is complete)")
    boolean force;

    @Option(names = "--verify", description = "before moving the pruned model into place, check that its logits equal "
            + "the full model's in mask mode (<= 1e-6 relative); exit 1 otherwise")
    boolean verify;

    @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "input",
            description = "largest shard: 'input' (default: as the input's largest shard) or a size as transformers' "
                    + "max_shard_size (5GB = 5e9 bytes, GiB = 2^30)")
    String maxShardSize;

    @Option(names = "--json", description = "print the result as one JSON object (format moeprune-prune)")
    boolean json;

    @picocli.CommandLine.Mixin
    QuietOption quiet = new QuietOption();

    @Override
    public Integer call() {
        long shardBytes = maxShardSize.equalsIgnoreCase("input") ? Pruner.Options.AS_INPUT : ByteSize.parse(maxShardSize);
        Pruner.Options options = Pruner.Options.defaults().withForce(force).withMaxShardBytes(shardBytes)
                .withVerification(verify ? RuntimeVerification.defaults() : null);
        Poller poller = json || quiet.quiet ? null : new Poller();
        PruneResult r;
        try {
            r = Pruner.prune(model, mask, out, poller == null ? options : options.withProgress(poller));
        } finally {
            if (poller != null) poller.stop();
        }
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("format", "moeprune-prune");
            m.put("version", ResultJson.VERSION);
            m.put("out", r.out().toString());
            m.put("experts_before", r.originalExperts());
            m.put("experts_kept", r.keptPerLayer());
            m.put("config_changes", r.configChanges());
            m.put("shards", r.shards());
            m.put("total_size", r.totalSize());
            m.put("input_size", r.inputBytes());
            m.put("tensors", r.tensors());
            m.put("tensors_dropped", r.dropped());
            m.put("files_copied", r.copiedFiles());
            m.put("files_skipped", r.skippedFiles());
            m.put("seconds", r.seconds());
            if (r.verified() != null) {
                m.put("verify", Map.of("prompts", r.verified().prompts(), "tokens", r.verified().tokens(),
                        "max_rel_diff", r.verified().maxRelDiff(), "tolerance", r.verified().tolerance()));
            }
            ResultJson.emit(JsonFiles.mapper().valueToTree(m), true, null, System.out);
        } else {
            System.out.printf("pruned %d -> %d experts per MoE layer: %s (%s of %s tensor bytes, %d shard(s), %.1f s)%n",
                    r.originalExperts(), r.keptPerLayer(), r.out(), human(r.totalSize()), human(r.inputBytes()),
                    r.shards().size(), r.seconds());
            System.out.println("config.json: " + r.configChanges());
            System.out.println("how it was made: moeprune.json (inspect shows it) and a section at the top of README.md");
            if (r.verified() != null) {
                System.out.printf("verified: %d prompts x %d tokens, logits agree with the masked full model "
                        + "(max relative difference %.3g <= %.0e)%n", r.verified().prompts(), r.verified().tokens(),
                        r.verified().maxRelDiff(), r.verified().tolerance());
            }
            if (!r.skippedFiles().isEmpty()) System.out.println("left out (weights of the full model): " + r.skippedFiles());
        }
        return 0;
    }

    private static String human(long b) {
        return b >= 1e9 ? String.format("%.2f GB", b / 1e9) : b >= 1e6 ? String.format("%.1f MB", b / 1e6)
                : String.format("%.1f kB", b / 1e3);
    }

    /** A progress bar fed by the size of the files in the staging directory (the writer copies in the kernel). */
    private static final class Poller implements Pruner.Progress {
        private Thread thread;
        private volatile boolean done;
        private volatile boolean complete;

        @Override
        public void started(Path staging, long totalBytes) {
            thread = Thread.ofPlatform().daemon().name("prune-progress").start(() -> {
                try (ProgressBar bar = new ProgressBarBuilder().setTaskName("prune").setInitialMax(Math.max(1, totalBytes / 1_000_000))
                        .setUnit(" MB", 1).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).continuousUpdate()
                        .setConsumer(ProgressBars.consumer(false)).build()) {
                    while (!done) {
                        bar.stepTo(Math.min(totalBytes, sizeOf(staging)) / 1_000_000);
                        LockSupport.parkNanos(200_000_000L);   // stop() unparks: the prune does not wait for a tick
                    }
                    if (complete) bar.stepTo(totalBytes / 1_000_000);   // not on failure: nothing is complete
                }
            });
        }

        @Override
        public void finished() {
            complete = true;
            stop();
        }

        void stop() {
            done = true;
            if (thread != null) {
                LockSupport.unpark(thread);
                try {
                    // Until the bar has ended its line: an error printed earlier would share the bar's line. Building
                    // the bar (terminal detection) can take seconds on a loaded machine; the loop itself ends at once.
                    thread.join(30_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        private static long sizeOf(Path dir) {
            try (Stream<Path> s = Files.list(dir)) {
                return s.mapToLong(p -> {
                    try {
                        return Files.size(p);
                    } catch (IOException e) {
                        return 0;
                    }
                }).sum();
            } catch (IOException e) {
                return 0;
            }
        }
    }
}
