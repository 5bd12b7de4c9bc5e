package io.moeprune.runtime;

import io.moeprune.io.Jsonl;

import java.nio.file.Path;
import java.util.List;

/** The "text" field of every non-blank line of a JSONL file (optionally .gz); bad lines name file and line. */
public final class JsonlTexts {
    private JsonlTexts() {
    }

    public static List<String> read(Path file) {
        return Jsonl.read(file).stream().map(l -> l.requireString("text")).toList();
    }
}
