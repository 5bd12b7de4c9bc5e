package io.moeprune.report;

import io.moeprune.select.Method;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a study runs: the model, each domain's JSONL, the methods and expert budgets (experts kept per layer), and the
 * split/evaluation limits. {@code oodMethod} is the method whose masks are also evaluated on the other domains.
 * {@code textField} is the key documents' texts are read from (null: the usual forms, see io.moeprune.io.DocumentForms).
 */
public record StudyConfig(Path model, Map<String, Path> domains, List<Method> methods, List<Integer> keeps,
                          int demos, int maxDemoTokens, int maxEvalDocs, int maxEvalTokens, Method oodMethod, long seed,
                          String textField) {

    /** Documents in the usual forms (no --text-field). */
    public StudyConfig(Path model, Map<String, Path> domains, List<Method> methods, List<Integer> keeps, int demos,
                       int maxDemoTokens, int maxEvalDocs, int maxEvalTokens, Method oodMethod, long seed) {
        this(model, domains, methods, keeps, demos, maxDemoTokens, maxEvalDocs, maxEvalTokens, oodMethod, seed, null);
    }
}
