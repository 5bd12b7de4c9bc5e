package io.moeprune.bench;

import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.prune.Pruner;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
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
 * Usage: bench/run prunedExport OUT [MODEL_DIR[=MASK.json]...]
 */
public final class PrunedExportBench {
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        List<String> models = new ArrayList<>(List.of(args).subList(1, args.length));
        if (models.isEmpty()) {
            try (var s = Files.list(Path.of("src/test/resources/conformance"))) {
                s.filter(p -> Files.exists(p.resolve("config.json"))).sorted().forEach(p -> models.add(p.toString()));
            }
        }
        Files.createDirectories(out);
        for (String arg : models) {
            String[] parts = arg.split("=", 2);
            Path dir = Path.of(parts[0]);
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
                try (Model full = Model.load(dir, spec)) {
                    InferenceState st = full.newState(ids.length).withMask(ExpertMask.of(byLayer, spec.moe().numExperts()));
                    masked = full.forward(ids, st, true);
                }
                try (Model small = Model.load(pruned, ConfigReader.read(pruned))) {
                    prunedLogits = small.forward(ids, small.newState(ids.length), true);
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
            } catch (io.moeprune.MoepruneException e) {
                System.out.println("  java: " + e.getMessage());
            }
        }
    }
}
