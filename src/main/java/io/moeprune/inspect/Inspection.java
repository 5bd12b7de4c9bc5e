package io.moeprune.inspect;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.provenance.Provenance;
import io.moeprune.provenance.ProvenanceFile;
import io.moeprune.safetensors.Checkpoint;

import java.nio.file.Path;

/**
 * Everything {@code moeprune inspect} reports about a model directory: the normalised description, the tensor
 * check, the parameter/byte accounting and, for a checkpoint pruned by moeprune, its record (null otherwise).
 */
public record Inspection(Path dir, ModelSpec spec, TensorCheck check, ParameterAccounting accounting,
                         Provenance provenance) {

    public static Inspection of(Path dir) {
        ModelSpec spec = ConfigReader.read(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            return new Inspection(dir, spec, TensorCheck.of(spec, ck), ParameterAccounting.of(spec, ck),
                    ProvenanceFile.of(dir));
        }
    }
}
