package io.moeprune.provenance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.model.ExpertIds;
import io.moeprune.provenance.Provenance.ModelRef;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads and writes {@code moeprune.json}, the {@link Provenance} of a pruned checkpoint (format in
 * docs/formats.md). Besides the chain it carries, at the top, the last step's source, strategy, method, budget and
 * domains, so that a reader needs no chain walking for the common questions.
 */
public final class ProvenanceFile {
    /** File name inside a pruned model directory. */
    public static final String NAME = "moeprune.json";
    public static final String FORMAT = "moeprune-provenance";
    public static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ProvenanceFile() {
    }

    /** The record of a model directory, or null when it has none (it was not pruned by moeprune). */
    public static Provenance of(Path modelDir) {
        Path f = modelDir.resolve(NAME);
        return Files.isRegularFile(f) ? read(f) : null;
    }

    /**
     * The record of a model that is about to be pruned, checked to describe that model (fingerprint and MoE layers),
     * or null when it has none.
     */
    public static Provenance ofSource(Path modelDir, String fingerprint, List<Integer> moeLayers) {
        Provenance p = of(modelDir);
        if (p != null) p.checkDescribes(modelDir.resolve(NAME), fingerprint, moeLayers);
        return p;
    }

    /** True when the file is a JSON object whose "format" is this one (so a mask argument may be a moeprune.json). */
    public static boolean isProvenance(Path file) {
        try {
            return FORMAT.equals(JSON.readTree(file.toFile()).path("format").asText());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    public static ObjectNode toJson(Provenance p) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT).put("version", VERSION).put("tool", p.tool()).put("created", p.created());
        root.set("model", model(p.model()));
        Provenance.Step last = p.last();
        root.set("source", model(last.source()));
        root.set("original", model(p.original()));
        root.put("strategy", last.strategy()).put("method", last.method()).put("budget", last.budget());
        ArrayNode doms = root.putArray("domains");
        last.domains().forEach(d -> doms.add(MaskFiles.domain(d)));
        root.set("layers", layers(p.original().moeLayers(), p.kept()));
        root.put("reproduce", ModelCard.reproduceCommand(p));
        ArrayNode steps = root.putArray("steps");
        for (Provenance.Step s : p.steps()) {
            ObjectNode o = steps.addObject();
            o.put("tool", s.tool()).put("created", s.created());
            o.set("source", model(s.source()));
            o.put("mask", s.mask()).put("strategy", s.strategy()).put("method", s.method()).put("budget", s.budget());
            ArrayNode d = o.putArray("domains");
            s.domains().forEach(x -> d.add(MaskFiles.domain(x)));
            o.set("layers", layers(s.source().moeLayers(), s.kept()));
        }
        return root;
    }

    /** Writes the record (into a staging directory: its atomicity is the directory's). */
    public static void write(Provenance p, Path file) throws IOException {
        JSON.writeValue(file.toFile(), toJson(p));
    }

    public static Provenance read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw MoepruneException.inFile(file, "not a moeprune provenance record (\"format\" is not \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt() != VERSION) {
            throw MoepruneException.inFile(file, "provenance version " + root.path("version") + " is not supported (expected "
                    + VERSION + ")");
        }
        ModelRef original = model(file, root.path("original"), "original");
        List<Provenance.Step> steps = new ArrayList<>();
        for (JsonNode s : root.path("steps")) {
            ModelRef source = model(file, s.path("source"), "steps[].source");
            List<ExpertMask.DomainRef> domains = new ArrayList<>();
            s.path("domains").forEach(d -> domains.add(MaskFiles.domain(d)));
            steps.add(new Provenance.Step(s.path("tool").asText(), s.path("created").asText(), source, s.path("mask").asText(),
                    s.path("strategy").asText("default"), s.path("method").asText(), s.path("budget").asText(), domains,
                    layers(file, s.path("layers"), source.moeLayers(), source.numExperts())));
        }
        if (steps.isEmpty()) throw MoepruneException.inFile(file, "\"steps\" lists no pruning step");
        return new Provenance(root.path("tool").asText(), root.path("created").asText(),
                model(file, root.path("model"), "model"), original, steps,
                layers(file, root.path("layers"), original.moeLayers(), original.numExperts()));
    }

    private static ObjectNode model(ModelRef m) {
        ObjectNode o = JSON.createObjectNode();
        o.put("path", m.path()).put("fingerprint", m.fingerprint()).put("family", m.family())
                .put("num_experts", m.numExperts()).put("top_k", m.topK());
        ArrayNode a = o.putArray("moe_layers");
        m.moeLayers().forEach(a::add);
        return o;
    }

    private static ModelRef model(Path file, JsonNode o, String where) {
        if (!o.isObject() || !o.path("num_experts").isIntegralNumber()) {
            throw MoepruneException.inFile(file, "\"" + where + "\" is missing or has no num_experts");
        }
        List<Integer> layers = new ArrayList<>();
        o.path("moe_layers").forEach(n -> layers.add(n.asInt()));
        return new ModelRef(o.path("path").asText(), o.path("fingerprint").asText(), o.path("family").asText(),
                o.path("num_experts").asInt(), o.path("top_k").asInt(), layers);
    }

    private static ObjectNode layers(List<Integer> moeLayers, int[][] kept) {
        ObjectNode o = JSON.createObjectNode();
        for (int i = 0; i < kept.length; i++) {
            ArrayNode a = o.putArray(Integer.toString(moeLayers.get(i)));
            for (int e : kept[i]) a.add(e);
        }
        return o;
    }

    private static int[][] layers(Path file, JsonNode o, List<Integer> moeLayers, int numExperts) {
        int[][] kept = new int[moeLayers.size()][];
        for (int i = 0; i < kept.length; i++) {
            JsonNode ids = o.path(Integer.toString(moeLayers.get(i)));
            if (!ids.isArray()) throw MoepruneException.inFile(file, "no kept experts for MoE layer " + moeLayers.get(i));
            kept[i] = new int[ids.size()];
            for (int j = 0; j < ids.size(); j++) {
                int e = ids.get(j).asInt(-1);
                if (!ids.get(j).isIntegralNumber() || e < 0 || e >= numExperts) {
                    throw MoepruneException.inFile(file, "layer " + moeLayers.get(i) + ": expert id " + ids.get(j)
                            + " is not in 0.." + (numExperts - 1));
                }
                kept[i][j] = e;
            }
            try {
                ExpertIds.requireValid(moeLayers.get(i), kept[i], numExperts);   // duplicates, as every mask reader
            } catch (MoepruneException e) {
                throw MoepruneException.inFile(file, e.getMessage());
            }
        }
        return kept;
    }
}
