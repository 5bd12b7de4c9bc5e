package io.moeprune.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Whole JSON files: read with one-line errors naming the file, written atomically (temporary file, then rename). */
public final class JsonFiles {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonFiles() {
    }

    public static ObjectMapper mapper() {
        return JSON;
    }

    /** The file's JSON object; a missing file, invalid JSON or another JSON value is an error naming the file. */
    public static JsonNode readObject(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "file not found");
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (n == null || !n.isObject()) throw MoepruneException.inFile(file, "not a JSON object");
        return n;
    }

    /** Written all-or-nothing (staged and renamed into place), replacing an existing file; mode 644 as every output. */
    public static void write(JsonNode root, Path file) {
        try (StagedOutput staged = StagedOutput.file(file, true)) {
            JSON.writeValue(staged.staging().toFile(), root);
            staged.commit();
        } catch (IOException e) {
            throw new MoepruneException(file + ": cannot write: " + IoErrors.reason(e), MoepruneException.FAILED, e);
        }
    }
}
