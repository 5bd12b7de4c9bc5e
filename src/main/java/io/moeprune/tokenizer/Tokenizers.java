package io.moeprune.tokenizer;

import io.moeprune.MoepruneException;

import java.nio.file.Path;

/** Loads the tokenizer of a model directory. */
public final class Tokenizers {
    private Tokenizers() {
    }

    public static Tokenizer load(Path modelDir) {
        throw MoepruneException.inFile(modelDir.resolve("tokenizer.json"), "tokenizer support is not built yet");
    }
}
