package io.moeprune.bench;

import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeSet;

/**
 * A copy of a DeepSeek-V3 checkpoint whose {@code e_score_correction_bias} vectors are shifted to be positive
 * (bias - min(bias) + 0.01, per layer). Adding one constant to every expert's selection bias changes neither which
 * groups nor which experts within them win; it only makes every biased score positive, so what a router fills in
 * for experts outside the kept groups (transformers 5.17: -inf; earlier versions: 0) cannot change the choice.
 * A control for the transformers-vs-Java check of pruned checkpoints: it isolates that fill value (issue 5) from
 * everything else (see docs/pruning.md, "Expert groups").
 */
final class PositiveBiasVariant {
    static final String SUFFIX = "_posbias";
    private static final String BIAS = "e_score_correction_bias";

    private PositiveBiasVariant() {
    }

    /** Writes the variant of {@code src} into {@code dst} (replaced when present) and returns dst. */
    static Path write(Path src, Path dst) throws IOException {
        if (Files.exists(dst)) try (var s = Files.walk(dst)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        try (Checkpoint c = Checkpoint.open(src);
             SafetensorsWriter w = new SafetensorsWriter(dst, Long.MAX_VALUE, Map.of("format", "pt"))) {
            for (String name : new TreeSet<>(c.names())) {
                if (!name.endsWith(BIAS)) {
                    w.copy(c, name);
                    continue;
                }
                var t = c.tensor(name);
                float[] b = t.toFloatArray();
                float min = Float.POSITIVE_INFINITY;
                for (float v : b) min = Math.min(min, v);
                for (int i = 0; i < b.length; i++) b[i] = b[i] - min + 0.01f;
                w.addFloats(name, t.dtype(), t.shape(), b);
            }
            w.finish();
        }
        try (var s = Files.list(src)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".json")
                    && !p.getFileName().toString().startsWith("model.safetensors")
                    && !p.getFileName().toString().startsWith("reference")).toList()) {
                Files.copy(p, dst.resolve(p.getFileName()));
            }
        }
        return dst;
    }
}
