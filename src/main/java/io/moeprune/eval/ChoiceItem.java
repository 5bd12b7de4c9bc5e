package io.moeprune.eval;

import io.moeprune.io.Jsonl;
import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One multiple-choice question: {@code {"query": str, "choices": [str, ...], "gold": int}}. Each choice is scored
 * as the continuation of the query, so choices usually start with a space (" Paris").
 *
 * @param line the line of the JSONL file it came from (1-based), for messages
 */
public record ChoiceItem(String query, List<String> choices, int gold, int line) {

    /** Every question of a JSONL file; bad lines name file and line. */
    public static List<ChoiceItem> read(Path file) {
        List<ChoiceItem> items = new ArrayList<>();
        for (Jsonl.Line l : Jsonl.readNonEmpty(file)) {
            String query = l.requireString("query");
            JsonNode choices = l.node().get("choices");
            if (choices == null || !choices.isArray() || choices.size() < 2) {
                throw l.error("\"choices\" should be an array of at least two strings");
            }
            List<String> texts = new ArrayList<>();
            for (JsonNode c : choices) {
                if (!c.isTextual()) throw l.error("choice " + texts.size() + " is not a string");
                texts.add(c.asText());
            }
            JsonNode gold = l.node().get("gold");
            if (gold == null || !gold.isIntegralNumber() || gold.asInt() < 0 || gold.asInt() >= texts.size()) {
                throw l.error("\"gold\" should be the index of the right choice, 0.." + (texts.size() - 1));
            }
            items.add(new ChoiceItem(query, List.copyOf(texts), gold.asInt(), l.number()));
        }
        return items;
    }
}
