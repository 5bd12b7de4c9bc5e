package io.moeprune.io;

import com.fasterxml.jackson.databind.JsonNode;
import io.moeprune.MoepruneException;
import io.moeprune.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a record becomes a document's text. Without {@code textField} the first form present is used:
 * {@code "text"} as is; {@code "messages"} ([{role, content}, ...]) rendered with the model's chat template;
 * {@code "prompt"} + {@code "response"} rendered as a user and an assistant turn with the chat template when the model
 * has one, else concatenated. With {@code textField} that key is the text (a dotted path such as
 * {@code meta.body} reaches into nested objects). {@code chat} is the model's tokenizer, whose chat template renders
 * conversations; null for a command without a model, which then refuses {@code messages}.
 */
public record DocumentForms(String textField, Tokenizer chat) {
    private static final List<String> FORM_KEYS = List.of("text", "messages", "prompt", "response");

    public DocumentForms {
        if (textField != null && textField.isBlank()) throw new MoepruneException("--text-field: give a key name");
    }

    /** The forms of a command that reads a model: its tokenizer renders conversations. */
    public static DocumentForms of(String textField, Tokenizer chat) {
        return new DocumentForms(textField, chat);
    }

    /** The top-level keys (Parquet columns) a text may come from. */
    List<String> keys() {
        if (textField == null) return FORM_KEYS;
        String top = textField.split("\\.", 2)[0];
        return top.equals(textField) ? List.of(textField) : List.of(textField, top);
    }

    /** What a record needs, for error messages. */
    String wanted() {
        return textField == null ? "\"text\", \"messages\", or \"prompt\" and \"response\"" : "\"" + textField + "\"";
    }

    String text(DocumentRecord r) {
        JsonNode n = r.node();
        if (textField != null) {
            JsonNode v = field(n, textField);
            if (v == null || v.isNull()) throw r.error("no " + wanted());
            if (!v.isTextual()) throw r.error(wanted() + " is not a string");
            return v.asText();
        }
        if (n.hasNonNull("text")) {
            if (!n.get("text").isTextual()) throw r.error("\"text\" is not a string");
            return n.get("text").asText();
        }
        if (n.hasNonNull("messages")) return conversation(r, n.get("messages"));
        if (n.hasNonNull("prompt") && n.hasNonNull("response")) {
            if (!n.get("prompt").isTextual() || !n.get("response").isTextual()) {
                throw r.error("\"prompt\" and \"response\" must be strings");
            }
            String prompt = n.get("prompt").asText(), response = n.get("response").asText();
            if (chat == null) return prompt + response;
            try {
                return chat.applyChatTemplate(List.of(Map.of("role", "user", "content", prompt),
                        Map.of("role", "assistant", "content", response)), false);
            } catch (MoepruneException noTemplate) {
                return prompt + response; // a base model sees the prompt followed by its continuation
            }
        }
        throw r.error("needs " + wanted() + " (or --text-field NAME for another key)");
    }

    private String conversation(DocumentRecord r, JsonNode msgs) {
        if (!msgs.isArray() || msgs.isEmpty()) throw r.error("\"messages\" is not a non-empty array");
        if (chat == null) throw r.error("\"messages\" need a model's chat template, and this command reads no model");
        List<Map<String, String>> list = new ArrayList<>();
        for (JsonNode m : msgs) {
            if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw r.error("each message needs string \"role\" and \"content\"");
            }
            Map<String, String> msg = new LinkedHashMap<>();
            msg.put("role", m.get("role").asText());
            msg.put("content", m.get("content").asText());
            list.add(msg);
        }
        try {
            return chat.applyChatTemplate(list, false);
        } catch (MoepruneException e) {
            throw r.error(e.getMessage());
        }
    }

    /** A key, or a dotted path through nested objects; an exact key wins over a path (keys may hold dots). */
    private static JsonNode field(JsonNode n, String path) {
        if (n.has(path)) return n.get(path);
        JsonNode cur = n;
        for (String part : path.split("\\.")) {
            if (cur == null || !cur.isObject()) return null;
            cur = cur.get(part);
        }
        return cur;
    }
}
