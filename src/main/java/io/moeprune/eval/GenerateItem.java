package io.moeprune.eval;

import io.moeprune.io.Jsonl;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One generation question: {@code {"question": str, "answer": str}} or {@code {"prompt": str, "answer": str}}.
 * The answer is a reference solution whose final answer {@link AnswerExtraction#fromReference} finds.
 *
 * @param line the line of the JSONL file it came from (1-based)
 */
public record GenerateItem(String prompt, String answer, int line) {

    public static List<GenerateItem> read(Path file) {
        List<GenerateItem> items = new ArrayList<>();
        for (Jsonl.Line l : Jsonl.readNonEmpty(file)) {
            String prompt = l.requireString("question", "prompt");
            String answer = l.requireString("answer");
            if (AnswerExtraction.fromReference(answer).isEmpty()) throw l.error("the reference answer is empty");
            items.add(new GenerateItem(prompt, answer, l.number()));
        }
        return items;
    }
}
