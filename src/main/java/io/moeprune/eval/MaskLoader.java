package io.moeprune.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Loads an expert mask for the runtime's mask mode and checks that it belongs to the model; the one place where
 * the perplexity and eval commands do this, so both accept and refuse the same files.
 *
 * <p>Accepted: the native mask file of {@code moeprune select} (docs/formats.md), whose {@code model} block must
 * match the model (non-empty fingerprint equal to {@link ModelFingerprint#of}, same routed-expert count and MoE
 * layers), and the bare runtime form {@code {"layers": {...}}} without a model block, which is only checked
 * against the model's shape.
 */
public final class MaskLoader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private MaskLoader() {
    }

    /** Opens the model's checkpoint for the fingerprint; see {@link #load(Path, ModelSpec, Checkpoint)}. */
    public static ExpertMask load(Path maskFile, Path modelDir, ModelSpec spec) {
        try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
            return load(maskFile, spec, checkpoint);
        }
    }

    public static ExpertMask load(Path maskFile, ModelSpec spec, Checkpoint checkpoint) {
        if (!isNative(maskFile)) return ExpertMask.load(maskFile, spec.moe().numExperts()).validate(spec, maskFile);
        io.moeprune.select.ExpertMask m = MaskFiles.read(maskFile);
        if (!m.fingerprint().isEmpty() && !m.fingerprint().equals(ModelFingerprint.of(spec, checkpoint))) {
            throw MoepruneException.inFile(maskFile, "mask was made for another model (fingerprint " + m.fingerprint()
                    + ", this model's is " + ModelFingerprint.of(spec, checkpoint) + ")");
        }
        if (m.numExperts() != spec.moe().numExperts()) {
            throw MoepruneException.inFile(maskFile, "mask is for " + m.numExperts() + " routed experts per layer; this "
                    + "model has " + spec.moe().numExperts());
        }
        if (!m.moeLayers().equals(spec.moeLayers())) {
            throw MoepruneException.inFile(maskFile, "mask covers MoE layers " + m.moeLayers()
                    + " but this model's MoE layers are " + spec.moeLayers());
        }
        Map<Integer, int[]> kept = new TreeMap<>();
        for (int i = 0; i < m.kept().length; i++) kept.put(m.moeLayers().get(i), m.kept()[i]);
        try {
            return ExpertMask.of(kept, spec.moe().numExperts(), m.routing()).validate(spec, maskFile);
        } catch (MoepruneException e) {
            throw e.getMessage().startsWith(maskFile.toString()) ? e : MoepruneException.inFile(maskFile, e.getMessage());
        }
    }

    /** A JSON object with a "format" key or a bare array (EASY-EP, which MaskFiles explains) goes to MaskFiles. */
    private static boolean isNative(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "mask file not found");
        try {
            JsonNode root = JSON.readTree(file.toFile());
            return root != null && (root.isArray() || root.has("format"));
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
    }
}
