package io.moeprune.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Demonstrations read from JSONL, one object per line, in one of three forms:
 * {@code {"text": ...}} used as is; {@code {"messages": [{"role", "content"}, ...]}} rendered with the model's chat
 * template; {@code {"prompt": ..., "response": ...}} rendered as a user turn and an assistant turn with the chat
 * template when the model has one, else concatenated. Blank lines are skipped.
 */
public final class Demonstrations {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Demonstrations() {
    }

    /** The rendered texts of the first {@code max} demonstrations (all when max <= 0). */
    public static List<String> read(Path file, Tokenizer tokenizer, int max) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "demonstration file not found");
        List<String> texts = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null && (max <= 0 || texts.size() < max)) {
                lineNo++;
                if (line.isBlank()) continue;
                texts.add(render(file, lineNo, line, tokenizer));
            }
        } catch (java.nio.charset.MalformedInputException e) {
            throw MoepruneException.inFile(file, "is not UTF-8 text");
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "cannot read: " + e.getMessage());
        }
        if (texts.isEmpty()) throw MoepruneException.inFile(file, "holds no demonstrations (one JSON object per line)");
        return texts;
    }

    static String render(Path file, int lineNo, String line, Tokenizer tokenizer) {
        String where = file + ":" + lineNo + ": ";
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new MoepruneException(where + "not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (n == null || !n.isObject()) throw new MoepruneException(where + "not a JSON object");
        if (n.hasNonNull("text")) {
            if (!n.get("text").isTextual()) throw new MoepruneException(where + "\"text\" is not a string");
            return n.get("text").asText();
        }
        if (n.hasNonNull("messages")) {
            JsonNode msgs = n.get("messages");
            if (!msgs.isArray() || msgs.isEmpty()) throw new MoepruneException(where + "\"messages\" is not a non-empty array");
            List<Map<String, String>> list = new ArrayList<>();
            for (JsonNode m : msgs) {
                if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                    throw new MoepruneException(where + "each message needs string \"role\" and \"content\"");
                }
                Map<String, String> msg = new LinkedHashMap<>();
                msg.put("role", m.get("role").asText());
                msg.put("content", m.get("content").asText());
                list.add(msg);
            }
            return tokenizer.applyChatTemplate(list, false);
        }
        if (n.hasNonNull("prompt") && n.hasNonNull("response")) {
            String prompt = n.get("prompt").asText(), response = n.get("response").asText();
            try {
                return tokenizer.applyChatTemplate(List.of(Map.of("role", "user", "content", prompt),
                        Map.of("role", "assistant", "content", response)), false);
            } catch (MoepruneException noTemplate) {
                return prompt + response;
            }
        }
        throw new MoepruneException(where + "needs \"text\", \"messages\", or \"prompt\" and \"response\"");
    }
}
