package io.moeprune.prune;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Rewrites config.json for the pruned model: only the named keys change; every other key, its value and the key
 * order stay (numbers are kept exactly as written, e.g. {@code 1e-06} is not rounded through a double).
 * A key whose family default applied (absent) is added at the end. The output is indented like transformers writes it (two spaces, {@code "key": value}).
 */
final class ConfigRewrite {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)   // 0.0 stays 0.0, not 0
            .build();

    private ConfigRewrite() {
    }

    /** The rewritten text: each entry of {@code changes} replaces an existing top-level key's value. */
    static String rewrite(Path configFile, Map<String, Integer> changes) {
        ObjectNode root;
        try {
            JsonNode n = JSON.readTree(Files.readString(configFile));
            if (!(n instanceof ObjectNode o)) throw MoepruneException.inFile(configFile, "not a JSON object");
            root = o;
        } catch (IOException e) {
            throw MoepruneException.inFile(configFile, "cannot be read: " + e.getMessage().lines().findFirst().orElse(""));
        }
        for (Map.Entry<String, Integer> c : changes.entrySet()) {
            // Replaces in place (the LinkedHashMap keeps the position); a key absent before (n_group left at the
            // family default) is appended.
            root.put(c.getKey(), c.getValue());
        }
        DefaultPrettyPrinter pp = new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                .withObjectIndenter(new DefaultIndenter("  ", "\n"))
                .withArrayIndenter(new DefaultIndenter("  ", "\n"));
        try {
            return JSON.writer(pp).writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The config changes of a pruning: expert count, expert groups, MTP layers. */
    static Map<String, Integer> changes(String expertCountKey, int kept, GroupRewrite groups, boolean dropMtp,
                                        JsonNode original) {
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put(expertCountKey, kept);
        if (groups != null && groups.changed()) {
            m.put("n_group", groups.nGroup());
            m.put("topk_group", groups.topkGroup());
        }
        if (dropMtp && original.has("num_nextn_predict_layers")) m.put("num_nextn_predict_layers", 0);
        return m;
    }

    static JsonNode read(Path configFile) {
        try {
            return JSON.readTree(Files.readString(configFile));
        } catch (IOException e) {
            throw MoepruneException.inFile(configFile, "cannot be read: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }
}
