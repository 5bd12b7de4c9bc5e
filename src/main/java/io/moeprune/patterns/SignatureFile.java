package io.moeprune.patterns;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.io.JsonFiles;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;

/** A task's signature.json (docs/patterns.md): every kind's vector, the depth and the token count. */
public final class SignatureFile {
    public static final String FORMAT = "moeprune-pattern-signature";
    public static final int VERSION = 1;

    private SignatureFile() {
    }

    public static void write(String task, Signatures s, Path file) {
        ObjectNode root = JsonFiles.mapper().createObjectNode();
        root.put("format", FORMAT).put("version", VERSION).put("task", task).put("depth", s.depth())
                .put("tokens", s.tokens());
        ObjectNode vectors = root.putObject("vectors");
        for (var e : s.vectors().entrySet()) {
            ObjectNode k = vectors.putObject(e.getKey().cliName());
            k.put("distance", e.getKey().distance().cliName()).put("layers", e.getKey().layersRead(s.depth()));
            ArrayNode a = k.putArray("values");
            for (double v : e.getValue()) a.add(v);
        }
        JsonFiles.write(root, file);
    }

    public static Signatures read(Path file) {
        JsonNode root = JsonFiles.readObject(file);
        if (!FORMAT.equals(root.path("format").asText())) {
            throw MoepruneException.inFile(file, "not a pattern signature (\"format\" is not \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt() != VERSION) {
            throw MoepruneException.inFile(file, "signature version " + root.path("version") + " is not supported");
        }
        Map<SignatureKind, double[]> vectors = new EnumMap<>(SignatureKind.class);
        JsonNode vs = root.path("vectors");
        for (SignatureKind k : SignatureKind.values()) {
            JsonNode values = vs.path(k.cliName()).path("values");
            if (values.isMissingNode()) continue;
            if (!values.isArray() || values.isEmpty()) {
                throw MoepruneException.inFile(file, "vectors." + k.cliName() + ".values is not a non-empty array");
            }
            double[] v = new double[values.size()];
            for (int i = 0; i < v.length; i++) {
                if (!values.get(i).isNumber()) throw MoepruneException.inFile(file, k.cliName() + " value " + i + " is not a number");
                v[i] = values.get(i).asDouble();
            }
            vectors.put(k, v);
        }
        return new Signatures(root.path("depth").asInt(1), root.path("tokens").asLong(), vectors);
    }
}
