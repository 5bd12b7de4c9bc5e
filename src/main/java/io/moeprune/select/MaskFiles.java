package io.moeprune.select;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.io.IoErrors;
import io.moeprune.io.StagedOutput;
import io.moeprune.model.ExpertIds;
import io.moeprune.model.GroupStrategy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads and writes expert masks. The native format (docs/formats.md) is a JSON object:
 * <pre>
 * {"format": "moeprune-expert-mask", "version": 1,
 *  "model": {"fingerprint": "...", "family": "qwen3_moe", "num_experts": 32, "top_k": 4, "moe_layers": [0, 1, ...]},
 *  "method": "easyep", "budget": "per-layer 16", "strategy": "nogroup",
 *  "domains": [{"name": "math", "weight": 1.0, "demos": 8, "tokens": 5120}],
 *  "layers": {"0": [1, 5, ...], "1": [...]}}
 * </pre>
 * {@code "strategy"} ({@link GroupStrategy}) is absent from masks written before it existed; such a mask keeps its
 * old meaning. EASY-EP's own format is a bare JSON array [moe layer][expert] of 1.0 (keep) / 0.0 (drop).
 */
public final class MaskFiles {
    public static final String FORMAT = "moeprune-expert-mask";
    public static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private MaskFiles() {
    }

    public static void write(ExpertMask mask, Path file) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT).put("version", VERSION);
        ObjectNode model = root.putObject("model");
        model.put("fingerprint", mask.fingerprint()).put("family", mask.family())
                .put("num_experts", mask.numExperts()).put("top_k", mask.topK());
        ArrayNode ml = model.putArray("moe_layers");
        mask.moeLayers().forEach(ml::add);
        root.put("method", mask.method()).put("budget", mask.budget());
        if (mask.strategy() != null) root.put("strategy", mask.strategy().cliName());
        ArrayNode doms = root.putArray("domains");
        for (ExpertMask.DomainRef d : mask.domains()) {
            doms.add(domain(d));
        }
        ObjectNode layers = root.putObject("layers");
        for (int i = 0; i < mask.kept().length; i++) {
            ArrayNode a = layers.putArray(Integer.toString(mask.moeLayers().get(i)));
            for (int e : mask.kept()[i]) a.add(e);
        }
        writeJson(root, file);
    }

    public static ExpertMask read(Path file) {
        JsonNode root = readJson(file);
        if (root.isArray()) {
            throw MoepruneException.inFile(file, "this is an EASY-EP mask (a bare array); import it with "
                    + "`moeprune select --import-easyep " + file + " --model MODEL --out MASK.json`");
        }
        if (!FORMAT.equals(root.path("format").asText())) {
            throw MoepruneException.inFile(file, "not a moeprune expert mask (\"format\" is not \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt() != VERSION) {
            throw MoepruneException.inFile(file, "mask version " + root.path("version") + " is not supported (expected "
                    + VERSION + ")");
        }
        JsonNode model = root.path("model");
        int numExperts = requireInt(file, model, "num_experts");
        int topK = requireInt(file, model, "top_k");
        List<Integer> moeLayers = new ArrayList<>();
        for (JsonNode n : model.path("moe_layers")) {
            if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 0) {
                throw MoepruneException.inFile(file, "model.moe_layers holds " + n + ", not a layer number");
            }
            moeLayers.add(n.asInt());
        }
        JsonNode layers = root.path("layers");
        if (!layers.isObject()) throw MoepruneException.inFile(file, "no \"layers\" object");
        int[][] kept = new int[moeLayers.size()][];
        for (int i = 0; i < moeLayers.size(); i++) {
            JsonNode ids = layers.get(Integer.toString(moeLayers.get(i)));
            if (ids == null || !ids.isArray()) {
                throw MoepruneException.inFile(file, "no kept experts for MoE layer " + moeLayers.get(i));
            }
            kept[i] = new int[ids.size()];
            for (int j = 0; j < ids.size(); j++) {
                if (!ids.get(j).isIntegralNumber()) {
                    throw MoepruneException.inFile(file, "layer " + moeLayers.get(i) + ": expert id " + ids.get(j)
                            + " is not an integer");
                }
                // Checked before asInt(), which would wrap 10^12 into an id that looks like a different mistake.
                if (!ids.get(j).canConvertToInt() || ids.get(j).asInt() < 0 || ids.get(j).asInt() >= numExperts) {
                    throw MoepruneException.inFile(file, "layer " + moeLayers.get(i) + ": expert id " + ids.get(j)
                            + " is out of range 0.." + (numExperts - 1));
                }
                kept[i][j] = ids.get(j).asInt();
            }
        }
        if (layers.size() != moeLayers.size()) {
            throw MoepruneException.inFile(file, "\"layers\" names " + layers.size() + " layers but the model has "
                    + moeLayers.size() + " MoE layers");
        }
        List<ExpertMask.DomainRef> domains = new ArrayList<>();
        root.path("domains").forEach(d -> domains.add(domain(d)));
        GroupStrategy strategy = null;
        if (root.hasNonNull("strategy")) {
            try {
                strategy = GroupStrategy.parse(root.get("strategy").asText());
            } catch (MoepruneException e) {
                throw MoepruneException.inFile(file, e.getMessage());
            }
        }
        ExpertMask mask = new ExpertMask(model.path("fingerprint").asText(""), model.path("family").asText(""),
                numExperts, topK, moeLayers, kept, root.path("method").asText(""), root.path("budget").asText(""), domains,
                strategy);
        validate(mask, file);
        return mask;
    }

    /** A domain entry of the native format ("demonstrations" is absent from masks written before it existed). */
    public static ExpertMask.DomainRef domain(JsonNode d) {
        List<ExpertStats.Demo> demos = new ArrayList<>();
        d.path("demonstrations").forEach(x -> demos.add(new ExpertStats.Demo(x.path("sha256").asText(), x.path("tokens").asInt())));
        return new ExpertMask.DomainRef(d.path("name").asText(), d.path("weight").asDouble(1.0), d.path("demos").asInt(),
                d.path("tokens").asLong(), demos);
    }

    /** The native format's domain entry: name, weight, demos, tokens and, when known, each demonstration. */
    public static ObjectNode domain(ExpertMask.DomainRef d) {
        ObjectNode o = JSON.createObjectNode().put("name", d.name()).put("weight", d.weight()).put("demos", d.demos())
                .put("tokens", d.tokens());
        if (!d.demonstrations().isEmpty()) {
            ArrayNode a = o.putArray("demonstrations");
            d.demonstrations().forEach(x -> a.addObject().put("sha256", x.sha256()).put("tokens", x.tokens()));
        }
        return o;
    }

    /** Checks ids are in range, distinct, and that every layer keeps at least top-k experts; sorts each layer. */
    public static void validate(ExpertMask mask, Path file) {
        for (int i = 0; i < mask.kept().length; i++) {
            int layer = mask.moeLayers().get(i);
            int[] ids = mask.kept()[i];
            try {
                ExpertIds.requireValid(layer, ids, mask.numExperts());
            } catch (MoepruneException e) {
                throw MoepruneException.inFile(file, e.getMessage());
            }
            Arrays.sort(ids);
            if (ids.length < mask.topK()) {
                throw MoepruneException.inFile(file, "layer " + layer + " keeps " + ids.length + " experts, fewer than the "
                        + mask.topK() + " each token is routed to");
            }
        }
    }

    /** EASY-EP's format: [moe layer][expert] of 1.0 / 0.0. */
    public static void exportEasyEp(ExpertMask mask, Path file) {
        ArrayNode root = JSON.createArrayNode();
        for (int[] ids : mask.kept()) {
            double[] row = new double[mask.numExperts()];
            for (int e : ids) row[e] = 1.0;
            ArrayNode a = root.addArray();
            for (double v : row) a.add(v);
        }
        writeJson(root, file);
    }

    /** Reads EASY-EP's bare array, for a model described by the other arguments. */
    public static ExpertMask importEasyEp(Path file, String fingerprint, String family, int numExperts, int topK,
                                          List<Integer> moeLayers) {
        JsonNode root = readJson(file);
        if (!root.isArray()) throw MoepruneException.inFile(file, "an EASY-EP mask is a JSON array of per-layer arrays");
        if (root.size() != moeLayers.size()) {
            throw MoepruneException.inFile(file, "has " + root.size() + " layers but the model has " + moeLayers.size()
                    + " MoE layers");
        }
        int[][] kept = new int[root.size()][];
        for (int l = 0; l < root.size(); l++) {
            JsonNode row = root.get(l);
            if (!row.isArray() || row.size() != numExperts) {
                throw MoepruneException.inFile(file, "layer " + l + " should list " + numExperts + " values (1.0 keep, 0.0 drop)");
            }
            List<Integer> ids = new ArrayList<>();
            for (int e = 0; e < numExperts; e++) if (row.get(e).asDouble() > 0.5) ids.add(e);
            kept[l] = ids.stream().mapToInt(Integer::intValue).toArray();
        }
        ExpertMask mask = new ExpertMask(fingerprint, family, numExperts, topK, moeLayers, kept, "imported-easyep",
                "from " + file.getFileName(), List.of());
        validate(mask, file);
        return mask;
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "file not found");
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null) throw MoepruneException.inFile(file, "empty file");
            return n;
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** Written staged and renamed into place (replacing an existing file), so a mask file is always whole. */
    static void writeJson(JsonNode root, Path file) {
        try (StagedOutput staged = StagedOutput.file(file, true)) {
            JSON.writeValue(staged.staging().toFile(), root);
            staged.commit();
        } catch (IOException e) {
            throw new MoepruneException(file + ": cannot write: " + IoErrors.reason(e), MoepruneException.FAILED, e);
        }
    }

    private static int requireInt(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || !v.isIntegralNumber()) throw MoepruneException.inFile(file, "model." + key + " is missing");
        if (!v.canConvertToInt() || v.asInt() < 1) {
            throw MoepruneException.inFile(file, "model." + key + " is " + v + ", not a positive count");
        }
        return v.asInt();
    }
}
