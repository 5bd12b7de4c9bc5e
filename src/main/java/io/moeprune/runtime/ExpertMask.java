package io.moeprune.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.model.ExpertIds;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.ModelSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which routed experts each MoE layer may route to. A layer without an entry keeps all its experts. Masked experts
 * are removed from routing exactly as a pruned checkpoint lacking them would route (see {@link Router}).
 *
 * With expert groups, {@link #strategy()} says how the router goes around the removed experts ({@link GroupStrategy};
 * without groups it changes nothing).
 *
 * <p>JSON form: {@code {"layers": {"<layer>": [kept expert ids...], ...}, "strategy": "nogroup"}}; without
 * {@code "strategy"} it routes as before the field existed, i.e. as {@link GroupStrategy#BALANCED}.
 */
public final class ExpertMask {
    public static final ExpertMask NONE = new ExpertMask(Map.of(), GroupStrategy.BALANCED);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<Integer, boolean[]> kept;   // layer -> kept[expert]
    private final GroupStrategy strategy;

    private ExpertMask(Map<Integer, boolean[]> kept, GroupStrategy strategy) {
        this.kept = kept;
        this.strategy = strategy;
    }

    /**
     * A mask from layer -> kept expert ids (every id below numExperts) that keeps expert groups as masks did before
     * strategies existed ({@link GroupStrategy#BALANCED} routing).
     */
    public static ExpertMask of(Map<Integer, int[]> keptIds, int numExperts) {
        return of(keptIds, numExperts, GroupStrategy.BALANCED);
    }

    /**
     * A mask from layer -> kept expert ids that routes around removed experts by {@code strategy}; an id out of range
     * or listed twice is refused ({@link ExpertIds}).
     */
    public static ExpertMask of(Map<Integer, int[]> keptIds, int numExperts, GroupStrategy strategy) {
        Map<Integer, boolean[]> m = new TreeMap<>();
        keptIds.forEach((layer, ids) -> {
            ExpertIds.requireValid(layer, ids, numExperts);
            boolean[] k = new boolean[numExperts];
            for (int id : ids) k[id] = true;
            m.put(layer, k);
        });
        return new ExpertMask(Collections.unmodifiableMap(m), strategy);
    }

    /** How routers with expert groups go around the removed experts. */
    public GroupStrategy strategy() {
        return strategy;
    }

    /** Kept[expert] of a layer, or null when the layer keeps every expert. */
    public boolean[] kept(int layer) {
        return kept.get(layer);
    }

    public boolean isEmpty() {
        return kept.isEmpty();
    }

    public Map<Integer, boolean[]> layers() {
        return kept;
    }

    /** Checks the mask against a model: MoE layers only, at least top-k experts kept in each. */
    public ExpertMask validate(ModelSpec spec, Path source) {
        for (var e : kept.entrySet()) {
            int layer = e.getKey();
            String where = source == null ? "" : source + ": ";
            if (layer < 0 || layer >= spec.numLayers() || !spec.isMoeLayer(layer)) {
                throw new MoepruneException(where + "layer " + layer + " is not a MoE layer of the model");
            }
            if (e.getValue().length != spec.moe().numExperts()) {
                throw new MoepruneException(where + "layer " + layer + " mask is for " + e.getValue().length
                        + " experts, the model has " + spec.moe().numExperts());
            }
            int count = 0;
            for (boolean b : e.getValue()) if (b) count++;
            if (count < spec.moe().topK()) {
                throw new MoepruneException(where + "layer " + layer + " keeps " + count + " experts, fewer than top-k = "
                        + spec.moe().topK());
            }
        }
        return this;
    }

    /** Reads {@code {"layers": {"3": [0, 5, 7], ...}}} with an optional {@code "strategy"}. */
    public static ExpertMask load(Path file, int numExperts) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw MoepruneException.inFile(file, Files.exists(file) ? "not valid JSON: "
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("") : "mask file not found");
        }
        JsonNode layers = root == null ? null : root.get("layers");
        if (layers == null || !layers.isObject()) throw MoepruneException.inFile(file, "no \"layers\" object");
        Map<Integer, int[]> ids = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = layers.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            int layer;
            try {
                layer = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw MoepruneException.inFile(file, "layer key '" + e.getKey() + "' is not a number");
            }
            if (!e.getValue().isArray()) {
                throw MoepruneException.inFile(file, "layer " + layer + " should list kept expert ids");
            }
            int[] kept = new int[e.getValue().size()];
            for (int i = 0; i < kept.length; i++) {
                JsonNode v = e.getValue().get(i);
                if (!v.canConvertToInt()) throw MoepruneException.inFile(file, "layer " + layer + ": '" + v + "' is not an expert id");
                kept[i] = v.asInt();
            }
            ids.put(layer, kept);
        }
        JsonNode s = root.get("strategy");
        GroupStrategy strategy;
        try {
            strategy = s == null ? GroupStrategy.BALANCED : GroupStrategy.parse(s.asText());
        } catch (MoepruneException ex) {
            throw MoepruneException.inFile(file, ex.getMessage());
        }
        try {
            return of(ids, numExperts, strategy);
        } catch (MoepruneException ex) {
            throw MoepruneException.inFile(file, ex.getMessage());
        }
    }
}
