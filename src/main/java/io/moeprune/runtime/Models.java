package io.moeprune.runtime;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;

import java.nio.file.Path;

/** Opens a model directory: reads its config.json into a ModelSpec and maps its weights. */
public final class Models {
    private Models() {
    }

    public static Model open(Path dir) {
        return Model.load(dir, spec(dir));
    }

    public static ModelSpec spec(Path dir) {
        return ConfigReader.read(dir);
    }
}
