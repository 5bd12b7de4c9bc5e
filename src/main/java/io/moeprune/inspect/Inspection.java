package io.moeprune.inspect;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;

import java.nio.file.Path;

/**
 * Everything {@code moeprune inspect} reports about a model directory: the normalised description, the tensor
 * check and the parameter/byte accounting.
 */
public record Inspection(Path dir, ModelSpec spec, TensorCheck check, ParameterAccounting accounting) {

    public static Inspection of(Path dir) {
        ModelSpec spec = ConfigReader.read(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            return new Inspection(dir, spec, TensorCheck.of(spec, ck), ParameterAccounting.of(spec, ck));
        }
    }
}
