package io.moeprune.patterns;

import io.moeprune.MoepruneException;
import io.moeprune.io.Jsonl;

import java.nio.file.Path;
import java.util.List;

/** A prompt to match, with the task it belongs to when known (null otherwise). */
public record LabelledPrompt(String text, String label) {

    /**
     * One prompt per line of a JSONL file: {@code "text"} or {@code "prompt"}, optionally {@code "label"} or
     * {@code "task"}. An empty file is an error naming it.
     */
    public static List<LabelledPrompt> read(Path file) {
        List<LabelledPrompt> prompts = Jsonl.readNonEmpty(file).stream().map(line -> {
            String text = line.requireString("text", "prompt");
            var label = line.node().hasNonNull("label") ? line.node().get("label") : line.node().get("task");
            if (label != null && !label.isNull() && !label.isTextual()) throw line.error("\"label\" is not a string");
            return new LabelledPrompt(text, label == null || label.isNull() ? null : label.asText());
        }).toList();
        long labelled = prompts.stream().filter(p -> p.label() != null).count();
        if (labelled != 0 && labelled != prompts.size()) {
            throw MoepruneException.inFile(file, labelled + " of " + prompts.size() + " prompts have a label: label all or none");
        }
        return prompts;
    }
}
