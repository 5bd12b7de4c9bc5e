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
        if (!v.isNumber()) throw bad(key, "must be a number, not " + shown(v));
        return v.asDouble();
    }

    /** A number that must be finite and within [min, max] (a NaN or infinite epsilon would only show up as a NaN loss). */
    double optDouble(String key, double dflt, double min, double max) {
        double v = optDouble(key, dflt);
        if (!(v >= min && v <= max)) throw bad(key, "is " + v + "; it must be between " + min + " and " + max);
        return v;
    }

    /** An int that must lie within [min, max]: sizes are checked before anything is allocated from them. */
    int optInt(String key, int dflt, int min, int max) {
        return inRange(key, optInt(key, dflt), min, max);
    }

    int requireInt(String key, int min, int max) {
        return inRange(key, requireInt(key), min, max);
    }

    int inRange(String key, int v, int min, int max) {
        if (v < min || v > max) throw bad(key, "is " + v + "; it must be between " + min + " and " + max);
        return v;
    }

    double requireDouble(String key) {
        if (!has(key)) throw missing(key);
        return optDouble(key, 0);
    }

    boolean optBool(String key, boolean dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isBoolean()) throw bad(key, "must be true or false, not " + shown(v));
        return v.asBoolean();
    }

    String optString(String key, String dflt) {
        if (!has(key)) return dflt;
        JsonNode v = node.get(key);
        if (!v.isTextual()) throw bad(key, "must be a string, not " + shown(v));
        return v.asText();
    }

    List<Integer> optIntList(String key) {
        if (!has(key)) return List.of();
        JsonNode v = node.get(key);
        if (!v.isArray()) throw bad(key, "must be a list of integers, not " + shown(v));
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) out.add(toInt(key, e));
        return out;
    }

    List<String> optStringList(String key) {
        if (!has(key)) return List.of();
        JsonNode v = node.get(key);
        if (!v.isArray()) throw bad(key, "must be a list of strings, not " + shown(v));
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) throw bad(key, "must be a list of strings, not " + shown(v));
            out.add(e.asText());
        }
        return out;
    }

    private int toInt(String key, JsonNode v) {
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw bad(key, "must be an integer, not " + shown(v));
        }
        long l = v.asLong();
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) throw bad(key, "is out of range: " + shown(v));
        return (int) l;
    }

    /** A value as JSON, cut short: a hostile config may hold megabytes in one value. */
    static String shown(JsonNode v) {
        String t = v.toString();
        return t.length() <= 60 ? t : t.substring(0, 57) + "...";
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
