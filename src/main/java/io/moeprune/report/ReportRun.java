package io.moeprune.report;

import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.ModelSpec;
import io.moeprune.prune.PruneResult;
import io.moeprune.prune.Pruner;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.MaskFiles;
import io.moeprune.select.Method;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Runs a report: the study grid on the full model (calibrate, select, masked evaluation), then prunes the prune
 * domain's easyep mask at every budget into {@code OUT/models/<domain>-<K>of<E>/} (mask files in {@code OUT/masks/})
 * and measures size, speed and held-out loss of the full and every pruned checkpoint. The pruned checkpoint's loss
 * must equal the masked full model's: a live check that pruning removed exactly the masked experts.
 */
public final class ReportRun {
    /** Relative loss difference accepted between a pruned checkpoint and its masked full model (float summation order). */
    public static final double EXACT_TOLERANCE = 1e-5;

    private ReportRun() {
    }

    public static Report run(ReportConfig config, Path outDir, Consumer<String> log) {
        long t0 = System.nanoTime();
        Instant created = Instant.now();
        Tokenizer tokenizer = Tokenizers.load(config.model());
        List<ModelMeasurement> models = new ArrayList<>();
        StudyResult study;
        ModelSpec spec;
        try (Model full = Models.open(config.model())) {
            spec = full.spec();
            log.accept(String.format("study: %d domain(s) x %d method(s) x %d budget(s) on %s",
                    config.domains().size(), config.methods().size(), config.keeps().size(), config.model()));
            study = new Study(config.study(), full, tokenizer, log).run();
            log.accept("measuring the full model (size, prefill and decode speed)");
            models.add(measure("full model", config.model(), config.model(), full, study.full().get(config.pruneDomain()), null, 0, config));
        }
        DomainSplit heldOut = DomainSplit.of(config.pruneDomain(), config.domains().get(config.pruneDomain()),
                config.textField(), tokenizer, config.demos(), config.maxDemoTokens(), config.evalDocs());
        String fingerprint;
        try (Checkpoint ckpt = Checkpoint.open(config.model())) {
            fingerprint = ModelFingerprint.of(spec, ckpt);
        }
        int experts = spec.moe().numExperts();
        for (var e : study.oodKept().get(config.pruneDomain()).entrySet().stream()
                .sorted(Map.Entry.<Integer, int[][]>comparingByKey().reversed()).toList()) {
            int keep = e.getKey();
            String name = config.pruneDomain() + "-" + keep + "of" + experts;
            Path maskFile = outDir.resolve("masks").resolve(config.pruneDomain() + "-easyep-" + keep + "of" + experts + ".json");
            io.moeprune.select.ExpertMask mask = new io.moeprune.select.ExpertMask(fingerprint, spec.family().modelType(),
                    experts, spec.moe().topK(), spec.moeLayers(), e.getValue(), Method.EASYEP.cliName(),
                    keep + " experts per layer", List.of(new io.moeprune.select.ExpertMask.DomainRef(config.pruneDomain(), 1.0,
                    heldOut.demoIds().size(), study.demoTokens().get(config.pruneDomain()))), GroupStrategy.NOGROUP);
            try {
                Files.createDirectories(maskFile.getParent());
            } catch (IOException ex) {
                throw new UncheckedIOException(ex);
            }
            MaskFiles.write(mask, maskFile);
            Path dir = outDir.resolve("models").resolve(name);
            log.accept("pruning " + config.pruneDomain() + " easyep mask " + keep + "/" + experts + " -> models/" + name);
            PruneResult pr = Pruner.prune(config.model(), mask, maskFile, dir, Pruner.Options.defaults());
            Quality masked = study.inDomain().get(config.pruneDomain()).get(Method.EASYEP).get(keep);
            try (Model pruned = Models.open(dir)) {
                log.accept("measuring " + name + " (held-out loss without a mask, size, speed)");
                Quality loss = Study.evaluate(pruned, heldOut.evalIds(), ExpertMask.NONE, config.evalTokens());
                ModelMeasurement m = measure(name, dir, Path.of("models", name), pruned, loss, masked, pr.seconds(), config);
                log.accept(String.format("  %s: loss %.6f as a checkpoint, %.6f masked (relative difference %.1e)",
                        name, loss.loss(), masked.loss(), m.lossMismatch()));
                models.add(m);
            }
        }
        return new Report(config, config.model().toAbsolutePath().normalize().getFileName().toString(),
                spec.family().modelType(), spec.numLayers(), spec.moeLayers().size(), spec.moe().topK(), study,
                models, Parallel.threads(), machine(), created, (System.nanoTime() - t0) / 1e9);
    }

    /** {@code shownDir}: the directory as the report names it (pruned ones relative to the report's directory). */
    private static ModelMeasurement measure(String label, Path dir, Path shownDir, Model model, Quality loss, Quality masked,
                                            double pruneSeconds, ReportConfig config) {
        long weightBytes = 0, parameters = 0;
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            for (String n : ckpt.names()) {
                weightBytes += ckpt.info(n).byteSize();
                parameters += ckpt.info(n).elementCount();
            }
        }
        Throughput t = Throughput.measure(model, config.promptTokens(), config.decodeSteps(), config.runs());
        return new ModelMeasurement(label, shownDir, model.spec().moe().numExperts(), diskBytes(dir), weightBytes,
                model.activeWeightBytesPerToken(), parameters, t, loss, masked, pruneSeconds);
    }

    static long diskBytes(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * "N processors, CPU model" from /proc/cpuinfo where there is one, and the device of the layer-major passes
     * (calibration, losses) when it is not the CPU.
     */
    static String machine() {
        String cpu = "";
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            cpu = lines.filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse("");
        } catch (IOException | UncheckedIOException e) {
            // not Linux: the processor count alone
        }
        int n = Runtime.getRuntime().availableProcessors();
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        // A busy machine makes the speed figures noisy: say how busy it was.
        return n + " processor" + (n == 1 ? "" : "s") + (cpu.isEmpty() ? "" : ", " + cpu)
                + (load < 0 ? "" : String.format(java.util.Locale.ROOT, ", load average %.1f", load))
                + (PrefillPasses.device().equals("cpu") ? "" : "; calibration and losses on " + PrefillPasses.device());
    }
}
