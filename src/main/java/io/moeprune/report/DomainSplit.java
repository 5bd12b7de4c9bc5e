package io.moeprune.report;

import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One domain's text split as the study protocol defines it: the first {@code demos} documents are the few-shot
 * demonstrations (cut to {@code maxDemoTokens}), the next (up to {@code maxEvalDocs}) are held out for evaluation and
 * kept whole (the study scores them in rolling windows). Every document is tokenised without special tokens.
 */
public record DomainSplit(String name, List<String> demoTexts, List<int[]> demoIds, List<int[]> evalIds) {

    public static DomainSplit of(String name, Path file, String textField, Tokenizer tok, int demos, int maxDemoTokens,
                                 int maxEvalDocs) {
        List<String> texts = Documents.read(file, DocumentForms.of(textField, tok));
        List<String> demoTexts = new ArrayList<>(texts.subList(0, Math.min(demos, texts.size())));
        List<int[]> demoIds = new ArrayList<>();
        for (String t : demoTexts) demoIds.add(cut(tok.encode(t), maxDemoTokens));
        List<int[]> evalIds = new ArrayList<>();
        for (int i = demoTexts.size(); i < texts.size() && evalIds.size() < maxEvalDocs; i++) {
            int[] ids = tok.encode(texts.get(i));
            if (ids.length >= 2) evalIds.add(ids);
        }
        return new DomainSplit(name, demoTexts, demoIds, evalIds);
    }

    static int[] cut(int[] ids, int max) {
        return ids.length <= max ? ids : Arrays.copyOf(ids, max);
    }

    public long evalTokens() {
        return evalIds.stream().mapToLong(a -> a.length - 1).sum();
    }
}
