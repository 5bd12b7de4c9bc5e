package io.moeprune.eval;

import io.moeprune.MoepruneException;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerProgress;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Perplexity;
import io.moeprune.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Next-token loss, perplexity and accuracy on documents, with the protocol of conformance/reference_perplexity.py:
 * each text tokenised without special tokens, cut to the first {@code maxPerDoc} tokens (and the whole run to
 * {@code maxTokens}), every token after a document's first predicted. Shared by the perplexity and eval commands.
 */
public final class TextEvaluation {
    private TextEvaluation() {
    }

    /** Totals over the documents; loss in nats per predicted token. */
    public record Result(int documents, long tokens, long predicted, double nll, long hits, double seconds) {
        public double loss() {
            return nll / predicted;
        }

        public double perplexity() {
            return Math.exp(loss());
        }

        public double accuracy() {
            return (double) hits / predicted;
        }

        public double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    /** The token ids of each document after the cuts; {@code maxTokens} null for no total limit. */
    public static List<int[]> tokenize(List<String> texts, Tokenizer tok, int maxPerDoc, Integer maxTokens) {
        if (maxPerDoc < 2) throw new MoepruneException("--max-tokens-per-doc must be at least 2");
        if (maxTokens != null && maxTokens < 2) throw new MoepruneException("--max-tokens must be at least 2");
        List<int[]> docs = new ArrayList<>();
        long budget = maxTokens == null ? Long.MAX_VALUE : maxTokens;
        for (String text : texts) {
            if (budget <= 0) break;
            int[] ids = tok.encode(text);
            ids = Arrays.copyOf(ids, (int) Math.min(budget, Math.min(ids.length, maxPerDoc)));
            budget -= ids.length;
            docs.add(ids);
        }
        return docs;
    }

    /**
     * Scores every document, layer-major; {@code progress} receives tokens as the documents pass the layers,
     * {@code onLayer} each finished layer.
     */
    public static Result run(Model model, ExpertMask mask, List<int[]> docs, Path source, IntConsumer progress,
                             Consumer<LayerProgress> onLayer) {
        long t0 = System.nanoTime();
        double[] units = docs.stream().mapToDouble(d -> d.length).toArray();
        List<Perplexity.DocScore> scores = new Perplexity(model, mask).scoreAll(docs,
                LayerMajorListener.crediting(units, model.layers().size(), progress, onLayer));
        double nll = 0;
        long tokens = 0, predicted = 0, hits = 0;
        for (Perplexity.DocScore s : scores) {
            nll += s.nll();
            tokens += s.tokens();
            predicted += s.predicted();
            hits += s.hits();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (predicted == 0) throw MoepruneException.inFile(source, "no document has two or more tokens");
        return new Result(docs.size(), tokens, predicted, nll, hits, seconds);
    }

    /** The same without layer reports. */
    public static Result run(Model model, ExpertMask mask, List<int[]> docs, Path source, IntConsumer progress) {
        return run(model, mask, docs, source, progress, p -> { });
    }
}
