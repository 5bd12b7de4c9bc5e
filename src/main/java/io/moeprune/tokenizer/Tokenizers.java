package io.moeprune.tokenizer;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Loads the tokenizer of a model directory: tokenizer.json (Hugging Face tokenizers format, BPE model),
 * tokenizer_config.json (special tokens, chat template), chat_template.jinja or chat_template.json, and the
 * end-of-sequence ids from generation_config.json / config.json.
 */
public final class Tokenizers {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private Tokenizers() {
    }

    public static Tokenizer load(Path modelDir) {
        Path tokenizerJson = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(tokenizerJson)) {
            throw MoepruneException.inFile(tokenizerJson, "not found (the model directory needs a tokenizer.json)");
        }
        TokenizerJsonReader.Contents contents = readTokenizerJson(tokenizerJson);
        JsonNode tokenizerConfig = readOptionalJson(modelDir.resolve("tokenizer_config.json"));
        List<Integer> eos;
        try {
            eos = eosIds(modelDir, tokenizerConfig, contents);
        } catch (IllegalArgumentException e) {
            throw MoepruneException.inFile(tokenizerJson, e.getMessage());
        }
        return build(tokenizerJson, contents, eos, chatTemplate(modelDir, tokenizerConfig));
    }

    /** A tokenizer from a tokenizer.json file alone (no eos ids, no chat template). */
    public static Tokenizer fromTokenizerJson(Path tokenizerJson) {
        return build(tokenizerJson, readTokenizerJson(tokenizerJson), List.of(), ChatTemplate.absent(tokenizerJson));
    }

    private static TokenizerJsonReader.Contents readTokenizerJson(Path file) {
        try {
            return TokenizerJsonReader.read(file);
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        } catch (IllegalArgumentException e) {
            throw MoepruneException.inFile(file, e.getMessage());
        }
    }

    private static List<AddedToken> addedTokens(TokenizerJsonReader.Contents contents) {
        List<AddedToken> added = new ArrayList<>();
        for (JsonNode t : contents.sections().getOrDefault("added_tokens", JSON.createArrayNode())) {
            boolean special = t.path("special").asBoolean(false);
            if (!t.path("content").isTextual()) {
                throw new IllegalArgumentException("added token " + t.get("id") + " has no content string");
            }
            added.add(new AddedToken(TokenizerJsonReader.id(t.get("id"), "added token \"" + t.path("content").asText() + "\""),
                    t.path("content").asText(), t.path("single_word").asBoolean(false),
                    t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("normalized").asBoolean(!special), special));
        }
        return added;
    }

    private static BpeTokenizer build(Path file, TokenizerJsonReader.Contents contents, List<Integer> eos, ChatTemplate template) {
        try {
            String type = contents.modelOptions().path("type").asText("BPE");
            if (!type.equals("BPE")) {
                throw MoepruneException.inFile(file, "unsupported tokenizer model type " + type + " (only BPE is supported)");
            }
            Map<String, JsonNode> s = contents.sections();
            return new BpeTokenizer(TextNormalizer.fromJson(s.get("normalizer")), PreTokenizer.fromJson(s.get("pre_tokenizer")),
                    bpeModel(contents), TokenDecoder.fromJson(s.get("decoder")), addedTokens(contents), eos, template);
        } catch (IllegalArgumentException e) {
            throw MoepruneException.inFile(file, e.getMessage());
        }
    }

    private static BpeModel bpeModel(TokenizerJsonReader.Contents contents) {
        JsonNode model = contents.modelOptions();
        Map<String, Integer> vocab = contents.vocab();
        String prefix = textOrNull(model.get("continuing_subword_prefix"));
        int count = contents.mergeLefts().size();
        MergeTable merges = new MergeTable(count);
        int[] mergedIdOfRank = new int[count];
        for (int rank = 0; rank < count; rank++) {
            String left = contents.mergeLefts().get(rank);
            String right = contents.mergeRights().get(rank);
            String merged = left + (prefix != null && !prefix.isEmpty() && right.startsWith(prefix)
                    ? right.substring(prefix.length()) : right);
            Integer l = vocab.get(left);
            Integer r = vocab.get(right);
            Integer id = vocab.get(merged);
            if (l == null || r == null || id == null) {
                throw new IllegalArgumentException("merge \"" + left + " " + right + "\" uses a token missing from the vocabulary");
            }
            merges.put(l, r, rank, id);
            mergedIdOfRank[rank] = id;
        }
        String unk = textOrNull(model.get("unk_token"));
        int unkId = -1;
        if (unk != null) {
            Integer id = vocab.get(unk);
            if (id == null) {
                throw new IllegalArgumentException("unk_token " + unk + " is not in the vocabulary");
            }
            unkId = id;
        }
        return new BpeModel(vocab, merges, mergedIdOfRank, unkId, model.path("fuse_unk").asBoolean(false),
                model.path("byte_fallback").asBoolean(false), model.path("ignore_merges").asBoolean(false), prefix,
                textOrNull(model.get("end_of_word_suffix")));
    }

    private static String textOrNull(JsonNode node) {
        return node == null || node.isNull() ? null : node.asText();
    }

    /**
     * End-of-sequence ids: generation_config.json's eos_token_id (what generation stops on in transformers), else
     * config.json's, else the eos_token of tokenizer_config.json.
     */
    private static List<Integer> eosIds(Path modelDir, JsonNode tokenizerConfig, TokenizerJsonReader.Contents contents) {
        for (String name : List.of("generation_config.json", "config.json")) {
            JsonNode config = readOptionalJson(modelDir.resolve(name));
            Set<Integer> ids = new LinkedHashSet<>();
            JsonNode eos = config == null ? null : config.get("eos_token_id");
            if (eos == null && config != null) {
                eos = config.path("text_config").get("eos_token_id");
            }
            if (eos != null && eos.isArray()) {
                eos.forEach(n -> ids.add(n.asInt()));
            } else if (eos != null && eos.canConvertToInt()) {
                ids.add(eos.asInt());
            }
            if (!ids.isEmpty()) {
                return List.copyOf(ids);
            }
        }
        String token = tokenizerConfig == null ? null : tokenText(tokenizerConfig.get("eos_token"));
        if (token != null) {
            for (AddedToken t : addedTokens(contents)) {
                if (t.content().equals(token)) {
                    return List.of(t.id());
                }
            }
            Integer id = contents.vocab().get(token);
            if (id != null) {
                return List.of(id);
            }
        }
        return List.of();
    }

    /** A special token in tokenizer_config.json: a string or an AddedToken object with "content". */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return node.isObject() ? textOrNull(node.get("content")) : node.asText();
    }

    private static ChatTemplate chatTemplate(Path modelDir, JsonNode tokenizerConfig) {
        Map<String, Object> specials = new HashMap<>();
        for (String name : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
            String text = tokenizerConfig == null ? null : tokenText(tokenizerConfig.get(name));
            specials.put(name, text == null ? "" : text);
        }
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return new ChatTemplate(jinja, Files.readString(jinja), specials);
            } catch (IOException e) {
                throw MoepruneException.inFile(jinja, "cannot read: " + e.getMessage());
            }
        }
        Path configFile = modelDir.resolve("tokenizer_config.json");
        JsonNode t = tokenizerConfig == null ? null : tokenizerConfig.get("chat_template");
        Path templateJson = modelDir.resolve("chat_template.json");
        if ((t == null || t.isNull()) && Files.isRegularFile(templateJson)) { // {"chat_template": "..."}
            configFile = templateJson;
            t = readJson(templateJson).get("chat_template");
        }
        if (t != null && t.isTextual()) {
            return new ChatTemplate(configFile, t.asText(), specials);
        }
        if (t != null && t.isArray()) { // [{name, template}, ...]: the "default" one
            for (JsonNode named : t) {
                if (named.path("name").asText().equals("default")) {
                    return new ChatTemplate(configFile, named.path("template").asText(), specials);
                }
            }
        }
        return ChatTemplate.absent(configFile);
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static JsonNode readOptionalJson(Path file) {
        return Files.isRegularFile(file) ? readJson(file) : null;
    }
}
