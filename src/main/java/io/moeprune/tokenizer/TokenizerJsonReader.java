package io.moeprune.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads tokenizer.json. The model's vocabulary and merges (hundreds of thousands of entries for real models)
 * are streamed straight into maps and lists; the small sections (normalizer, pre_tokenizer, decoder,
 * added_tokens, model options) are read as JSON trees.
 */
final class TokenizerJsonReader {
    /** The parsed file: small sections as trees, the BPE vocabulary and merges as plain collections. */
    record Contents(Map<String, JsonNode> sections, ObjectNode modelOptions, Map<String, Integer> vocab,
                    List<String> mergeLefts, List<String> mergeRights) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJsonReader() {
    }

    static Contents read(Path file) throws IOException {
        JsonFactory factory = JSON.getFactory();
        try (JsonParser p = factory.createParser(file.toFile())) {
            expect(p.nextToken(), JsonToken.START_OBJECT, "an object");
            Map<String, JsonNode> sections = new HashMap<>();
            ObjectNode modelOptions = JsonNodeFactory.instance.objectNode();
            Map<String, Integer> vocab = new HashMap<>();
            List<String> lefts = new ArrayList<>();
            List<String> rights = new ArrayList<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("model") && p.currentToken() == JsonToken.START_OBJECT) {
                    readModel(p, modelOptions, vocab, lefts, rights);
                } else {
                    sections.put(name, p.readValueAsTree());
                }
            }
            return new Contents(sections, modelOptions, vocab, lefts, rights);
        }
    }

    private static void readModel(JsonParser p, ObjectNode options, Map<String, Integer> vocab, List<String> lefts,
                                  List<String> rights) throws IOException {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken value = p.nextToken();
            if (name.equals("vocab") && value == JsonToken.START_OBJECT) {
                readVocab(p, vocab);
            } else if (name.equals("merges") && value == JsonToken.START_ARRAY) {
                readMerges(p, lefts, rights);
            } else {
                options.set(name, p.readValueAsTree());
            }
        }
    }

    /**
     * Token to id. Ids index arrays of the tokenizer (id to token): each must be an integer in [0, {@link #MAX_ID}]
     * and belong to one token only, or decoding would be ambiguous.
     */
    private static void readVocab(JsonParser p, Map<String, Integer> vocab) throws IOException {
        Map<Integer, String> tokenOfId = new HashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String token = p.currentName();
            int id = id(p.nextToken(), p, "vocabulary entry \"" + token + "\"");
            String other = tokenOfId.putIfAbsent(id, token);
            if (other != null) {
                throw new IllegalArgumentException("vocabulary gives id " + id + " to both \"" + other + "\" and \""
                        + token + "\"");
            }
            if (vocab.put(token, id) != null) {
                throw new IllegalArgumentException("vocabulary lists \"" + token + "\" twice");
            }
        }
    }

    /** Largest token id accepted (the largest real vocabularies have about 2^18 entries). */
    static final int MAX_ID = (1 << 24) - 1;

    /** A token id: an integer in [0, MAX_ID]. */
    static int id(JsonToken t, JsonParser p, String what) throws IOException {
        if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                || p.getLongValue() < 0 || p.getLongValue() > MAX_ID) {
            throw new IllegalArgumentException(what + " has id " + p.getText() + "; ids are integers from 0 to " + MAX_ID);
        }
        return p.getIntValue();
    }

    /** A token id in a JSON tree (added_tokens), checked like {@link #id(JsonToken, JsonParser, String)}. */
    static int id(JsonNode n, String what) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() > MAX_ID) {
            throw new IllegalArgumentException(what + " has id " + n + "; ids are integers from 0 to " + MAX_ID);
        }
        return n.asInt();
    }

    /** Merges as "left right" strings (older files) or [left, right] pairs (tokenizers 0.20 and later). */
    private static void readMerges(JsonParser p, List<String> lefts, List<String> rights) throws IOException {
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t == JsonToken.VALUE_STRING) {
                String line = p.getText();
                int space = line.indexOf(' ');
                if (space < 0 || line.indexOf(' ', space + 1) >= 0) {
                    throw new IllegalArgumentException("merge \"" + line + "\" is not two tokens separated by one space");
                }
                lefts.add(line.substring(0, space));
                rights.add(line.substring(space + 1));
            } else if (t == JsonToken.START_ARRAY) {
                expect(p.nextToken(), JsonToken.VALUE_STRING, "a merge pair of strings");
                lefts.add(p.getText());
                expect(p.nextToken(), JsonToken.VALUE_STRING, "a merge pair of strings");
                rights.add(p.getText());
                expect(p.nextToken(), JsonToken.END_ARRAY, "a merge pair of two strings");
            } else {
                throw new IllegalArgumentException("merges hold " + t + ", expected strings or pairs");
            }
        }
    }

    private static void expect(JsonToken actual, JsonToken expected, String what) {
        if (actual != expected) {
            throw new IllegalArgumentException("expected " + what + " but found " + actual);
        }
    }
}
