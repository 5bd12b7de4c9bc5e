package io.moeprune.calibrate;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;
import io.moeprune.io.Jsonl;
import io.moeprune.tokenizer.Tokenizer;

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
    private Demonstrations() {
    }

    /** The rendered texts of the first {@code max} demonstrations (all when max <= 0). */
    public static List<String> read(Path file, Tokenizer tokenizer, int max) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "demonstration file not found");
        List<String> texts = new ArrayList<>();
        for (Jsonl.Line line : Jsonl.read(file)) {
            if (max > 0 && texts.size() >= max) break;
            texts.add(render(line, tokenizer));
        }
        if (texts.isEmpty()) throw MoepruneException.inFile(file, "holds no demonstrations (one JSON object per line)");
        return texts;
    }

    static String render(Jsonl.Line line, Tokenizer tokenizer) {
        String where = line.file() + ":" + line.number() + ": ";
        JsonNode n = line.node();
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
