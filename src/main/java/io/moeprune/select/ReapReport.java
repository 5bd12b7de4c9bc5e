package io.moeprune.select;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * The kept-experts file of llm-compressor's REAP modifier ({@code REAPPruningModifier(report_path=...)}, written by
 * {@code on_finalize} in src/llmcompressor/modifiers/pruning/reap/base.py as {@code json.dump(self._retained_experts)}):
 * one JSON object mapping each pruned MoE block's module name (e.g. {@code "model.layers.3.mlp"}) to the retained
 * expert ids of that layer, in the original numbering, ascending. docs/formats.md describes it.
 */
public final class ReapReport {
    /** The decoder layer index inside a module name: "model.layers.12.mlp" -> 12. */
    private static final Pattern LAYER = Pattern.compile("(?:^|\\.)layers\\.(\\d+)(?:\\.|$)");

    private ReapReport() {
    }

    /** Module name of a layer's MoE block as transformers 5 names it for every supported family. */
    static String moduleName(int layer) {
        return "model.layers." + layer + ".mlp";
    }

    public static void export(ExpertMask mask, Path file) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        for (int i = 0; i < mask.kept().length; i++) {
            int[] ids = mask.kept()[i];
            Arrays.stream(ids).forEach(root.putArray(moduleName(mask.moeLayers().get(i)))::add);
        }
        MaskFiles.writeJson(root, file);
    }

    /**
     * Reads a REAP report for a model described by the other arguments. A MoE layer the report does not name was
     * left whole by REAP (its {@code ignore} patterns), so it keeps all its experts here too.
     */
    public static ExpertMask importReport(Path file, String fingerprint, String family, int numExperts, int topK,
                                          List<Integer> moeLayers) {
        JsonNode root = MaskFiles.readJson(file);
        if (!root.isObject()) {
            throw MoepruneException.inFile(file, "a REAP report is a JSON object of module name -> retained expert ids");
        }
        int[][] kept = new int[moeLayers.size()][];
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Matcher m = LAYER.matcher(e.getKey());
            if (!m.find()) throw MoepruneException.inFile(file, "module name '" + e.getKey() + "' names no layer (layers.N)");
            int layer = Integer.parseInt(m.group(1));
            int pos = moeLayers.indexOf(layer);
            if (pos < 0) throw MoepruneException.inFile(file, "'" + e.getKey() + "': layer " + layer + " is not a MoE layer of the model");
            if (kept[pos] != null) throw MoepruneException.inFile(file, "layer " + layer + " is listed twice");
            JsonNode ids = e.getValue();
            if (!ids.isArray()) throw MoepruneException.inFile(file, "'" + e.getKey() + "' should list expert ids");
            kept[pos] = new int[ids.size()];
            for (int j = 0; j < ids.size(); j++) {
                if (!ids.get(j).isIntegralNumber()) {
                    throw MoepruneException.inFile(file, "layer " + layer + ": expert id " + ids.get(j) + " is not an integer");
                }
                kept[pos][j] = ids.get(j).asInt();
            }
        }
        for (int i = 0; i < kept.length; i++) if (kept[i] == null) kept[i] = IntStream.range(0, numExperts).toArray();
        ExpertMask mask = new ExpertMask(fingerprint, family, numExperts, topK, moeLayers, kept, "imported-reap",
                "from " + file.getFileName(), List.of());
        MaskFiles.validate(mask, file);
        return mask;
    }
}
