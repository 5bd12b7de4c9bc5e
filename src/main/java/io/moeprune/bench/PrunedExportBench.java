package io.moeprune.bench;

import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.prune.Pruner;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.RoutingTieCounter;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.select.MaskFiles;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Prepares the check that pruned checkpoints load in unmodified transformers and compute what the Java runtime
 * computes (conformance/check_pruned.py runs on the GPU machine). For each model directory given (or every fixture
 * under src/test/resources/conformance), keeps the even-numbered experts of every MoE layer (an equal count in every
 * expert group), prunes into OUT/NAME, and, for families the runtime runs, writes the Java logits of the pruned
 * checkpoint and of the full model in mask mode on fixed token ids to OUT/NAME-java/model.safetensors.
 * With no model given, also adds {@code deepseek_v3_posbias}: the deepseek_v3 fixture with its selection biases
 * shifted positive ({@link PositiveBiasVariant}; the full model is written to OUT/full/), on which no routing choice
 * depends on tie breaking. For every model it prints how many token-layers had a tie-dependent choice
 * ({@link RoutingTieCounter}): transformers may legitimately route those tokens differently.
 * Usage: bench/run prunedExport OUT [MODEL_DIR[=MASK.json] | MODEL_DIR+posbias ...]
 */
public final class PrunedExportBench {
    /** An argument DIR+posbias stands for the {@link PositiveBiasVariant} of DIR. */
    static final String POSBIAS = "+posbias";

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        List<String> models = new ArrayList<>(List.of(args).subList(1, args.length));
        if (models.isEmpty()) {
            try (var s = Files.list(Path.of("src/test/resources/conformance"))) {
                s.filter(p -> Files.exists(p.resolve("config.json"))).sorted().forEach(p -> models.add(p.toString()));
            }
            models.add("src/test/resources/conformance/deepseek_v3" + POSBIAS);
        }
        Files.createDirectories(out);
        for (String arg : models) {
            String[] parts = arg.split("=", 2);
            Path dir = Path.of(parts[0]);
            if (parts[0].endsWith(POSBIAS)) {
                // The full variant model lives under OUT/full/ (no config.json at that level, so check_pruned.py
                // does not take it for a pruned model; it reads it from there for mask emulation).
                Path src = Path.of(parts[0].substring(0, parts[0].length() - POSBIAS.length()));
                dir = PositiveBiasVariant.write(src,
                        out.resolve("full").resolve(src.getFileName() + PositiveBiasVariant.SUFFIX));
                System.out.println("wrote " + dir + " (" + src + " with e_score_correction_bias shifted positive)");
            }
            String name = dir.getFileName().toString();
            ModelSpec spec = ConfigReader.read(dir);
            io.moeprune.select.ExpertMask mask;
            if (parts.length == 2) {
                mask = MaskFiles.read(Path.of(parts[1]));
            } else {
                int[][] kept = new int[spec.moeLayers().size()][];
                for (int l = 0; l < kept.length; l++) {
                    kept[l] = java.util.stream.IntStream.range(0, spec.moe().numExperts()).filter(e -> e % 2 == 0).toArray();
                }
                String fp;
                try (Checkpoint c = Checkpoint.open(dir)) {
                    fp = ModelFingerprint.of(spec, c);
                }
                mask = new io.moeprune.select.ExpertMask(fp, spec.family().modelType(), spec.moe().numExperts(),
                        spec.moe().topK(), spec.moeLayers(), kept, "even-ids", "per-layer " + kept[0].length, List.of());
            }
            Path maskFile = out.resolve(name + ".mask.json");
            MaskFiles.write(mask, maskFile);
            Path pruned = out.resolve(name);
            Pruner.prune(dir, mask, maskFile, pruned, Pruner.Options.defaults().withForce(true));
            System.out.println("pruned " + name + " -> " + pruned);
            try {
                int[] ids = new Random(3).ints(24, 3, Math.min(spec.vocabSize(), 250)).toArray();
                Map<Integer, int[]> byLayer = new HashMap<>();
                for (int l = 0; l < spec.moeLayers().size(); l++) byLayer.put(spec.moeLayers().get(l), mask.kept()[l]);
                float[] masked, prunedLogits;
                RoutingTieCounter maskedTies, prunedTies;
                try (Model full = Model.load(dir, spec)) {
                    ExpertMask runtimeMask = ExpertMask.of(byLayer, spec.moe().numExperts());
                    maskedTies = new RoutingTieCounter(full, runtimeMask);
                    InferenceState st = full.newState(ids.length).withMask(runtimeMask).withObserver(maskedTies);
                    masked = full.forward(ids, st, true);
                }
                try (Model small = Model.load(pruned, ConfigReader.read(pruned))) {
                    prunedTies = new RoutingTieCounter(small, null);
                    prunedLogits = small.forward(ids, small.newState(ids.length).withObserver(prunedTies), true);
                }
                Path jdir = out.resolve(name + "-java");
                if (Files.exists(jdir)) try (var s = Files.walk(jdir)) {
                    s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
                try (SafetensorsWriter w = new SafetensorsWriter(jdir, Long.MAX_VALUE, Map.of("format", "pt"))) {
                    ByteBuffer b = ByteBuffer.allocate(ids.length * 8).order(ByteOrder.LITTLE_ENDIAN);
                    for (int id : ids) b.putLong(id);
                    w.add("ids", DType.I64, new long[]{ids.length}, b.flip());
                    long vocab = prunedLogits.length / ids.length;
                    w.addFloats("pruned.logits", DType.F32, new long[]{ids.length, vocab}, prunedLogits);
                    w.addFloats("masked.logits", DType.F32, new long[]{ids.length, vocab}, masked);
                    w.finish();
                }
                double num = 0, den = 0;
                for (int i = 0; i < masked.length; i++) {
                    num += (masked[i] - prunedLogits[i]) * (double) (masked[i] - prunedLogits[i]);
                    den += (double) masked[i] * masked[i];
                }
                System.out.printf("  java: pruned vs masked full model, relative error %.2e%n", Math.sqrt(num / den));
                // Tokens whose expert choice the tie rule decided: there transformers may choose otherwise.
                System.out.println("  java: tie-dependent routing, pruned: " + prunedTies.summary()
                        + "; masked full: " + maskedTies.summary());
            } catch (io.moeprune.MoepruneException e) {
                System.out.println("  java: " + e.getMessage());
            }
        }
    }
}
