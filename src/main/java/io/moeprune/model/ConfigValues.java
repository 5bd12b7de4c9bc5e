package io.moeprune.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed, error-reporting access to one JSON object of a config file. Every problem becomes a one-line
 * {@link MoepruneException} naming the file and the key, so a bad config never produces a stack trace.
 * A key whose value is JSON {@code null} counts as absent (transformers writes {@code "head_dim": null}).
 */
final class ConfigValues {
    private final Path file;
    private final JsonNode node;
    private final String prefix;   // "rope_parameters." for nested objects, "" at the top

    ConfigValues(Path file, JsonNode node, String prefix) {
        this.file = file;
        this.node = node;
        this.prefix = prefix;
    }

    Path file() {
        return file;
    }

    boolean has(String key) {
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    /** The first of the keys that is present, or null. */
    String firstPresent(String... keys) {
        for (String k : keys) if (has(k)) return k;
        return null;
    }

    /** A nested object, or null when absent. */
    ConfigValues object(String key) {
        if (!has(key)) return null;
        JsonNode v = node.get(key);
        if (!v.isObject()) throw bad(key, "must be an object");
        return new ConfigValues(file, v, prefix + key + ".");
    }

    int requireInt(String key) {
        if (!has(key)) throw missing(key);
        return toInt(key, node.get(key));
    }

    /** The first present key of several spellings, as an int; the message names all of them when none is. */
    int requireInt(String... keys) {
        String k = firstPresent(keys);
        if (k == null) throw missing(String.join("' or '", keys));
        return toInt(k, node.get(k));
    }

    int optInt(String key, int dflt) {
        return has(key) ? toInt(key, node.get(key)) : dflt;
    }

    double optDouble(String key, double dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isNumber()) throw bad(key, "must be a number, not " + v);
        return v.asDouble();
    }

    double requireDouble(String key) {
        if (!has(key)) throw missing(key);
        return optDouble(key, 0);
    }

    boolean optBool(String key, boolean dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isBoolean()) throw bad(key, "must be true or false, not " + v);
        return v.asBoolean();
    }

    String optString(String key, String dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isTextual()) throw bad(key, "must be a string, not " + v);
        return v.asText();
    }

    List<Integer> optIntList(String key) {
        if (!has(key)) return List.of();
        JsonNode v = node.get(key);
        if (!v.isArray()) throw bad(key, "must be a list of integers, not " + v);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) out.add(toInt(key, e));
        return out;
    }

    List<String> optStringList(String key) {
        if (!has(key)) return List.of();
        JsonNode v = node.get(key);
        if (!v.isArray()) throw bad(key, "must be a list of strings, not " + v);
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) throw bad(key, "must be a list of strings, not " + v);
            out.add(e.asText());
        }
        return out;
    }

    private int toInt(String key, JsonNode v) {
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw bad(key, "must be an integer, not " + v);
        }
        long l = v.asLong();
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) throw bad(key, "is out of range: " + v);
        return (int) l;
    }

    MoepruneException missing(String key) {
        return MoepruneException.inFile(file, "missing required key '" + prefix + key + "'");
    }

    MoepruneException bad(String key, String problem) {
        return MoepruneException.inFile(file, "'" + prefix + key + "' " + problem);
    }

    /** A value that is present and well-typed but impossible (e.g. top-k larger than the expert count). */
    MoepruneException invalid(String problem) {
        return MoepruneException.inFile(file, problem);
    }
}
