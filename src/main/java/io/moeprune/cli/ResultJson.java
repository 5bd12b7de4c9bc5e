package io.moeprune.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.io.JsonFiles;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * The machine-readable result of a subcommand (README, "Machine-readable output"): ONE JSON object whose
 * {@code format} key names its schema ({@code moeprune-<command>}) and whose {@code version} says which revision of it,
 * printed alone on standard output with {@code --json} and written all-or-nothing to a file with {@code --output}.
 */
final class ResultJson {
    /** The version of every result schema that has not changed since it was introduced. */
    static final int VERSION = 1;

    private ResultJson() {
    }

    /** A new result object that starts with its {@code format} and {@code version}. */
    static ObjectNode object(String format) {
        return JsonFiles.mapper().createObjectNode().put("format", format).put("version", VERSION);
    }

    /** A measurement, or null where there is none (JSON has no NaN: one decoded token gives no decode rate). */
    static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    /** The object as the project writes JSON (indented). */
    static String text(JsonNode result) {
        try {
            return JsonFiles.mapper().writeValueAsString(result);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);   // a tree of plain nodes always serialises
        }
    }

    /**
     * Writes {@code result} to {@code output} when given (first: a file that cannot be written fails the run before
     * anything is printed), then prints it on {@code out} when {@code json}.
     */
    static void emit(JsonNode result, boolean json, Path output, PrintWriter out) {
        if (output != null) JsonFiles.write(result, output);
        if (json) {
            out.println(text(result));
            out.flush();
        }
    }

    /** The same for the commands that print on {@link System#out}. */
    static void emit(JsonNode result, boolean json, Path output, PrintStream out) {
        emit(result, json, output, new PrintWriter(out, true));
    }
}
