package io.moeprune.runtime;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;

import java.nio.file.Path;

/** The ModelSpec of a test model directory (one place to switch to the real ConfigReader). */
final class TestModels {
    private TestModels() {
    }

    static ModelSpec spec(Path dir) {
        return ConfigReader.read(dir);
    }
}
