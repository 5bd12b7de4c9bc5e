package io.moeprune.eval;

import io.moeprune.MoepruneException;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerProgress;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Perplexity;
import io.moeprune.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Multiple-choice accuracy by log-likelihood, as lm-evaluation-harness scores loglikelihood tasks: the context is
 * the query's tokens, the continuation the tokens that {@code encode(query + choice)} has after them, and a choice's
 * score is the summed log-probability of its continuation tokens. Reported: {@code acc} (argmax of the sum equals
 * gold), {@code acc_norm} (argmax of the per-token mean) and {@code acc_norm_bytes} (sum divided by the choice's
 * UTF-8 length, which is what lm-evaluation-harness calls acc_norm). Ties go to the first choice.
 */
public final class ChoiceEvaluation {
    private ChoiceEvaluation() {
    }

    /** One choice's score: summed log-probability (nats, ≤ 0), its token and byte counts. */
    public record ChoiceScore(double logProb, int tokens, int bytes) {
        public double perToken() {
            return logProb / tokens;
        }

        public double perByte() {
            return logProb / Math.max(bytes, 1);
        }
    }

    /** One question's result. */
    public record ItemResult(int line, int gold, List<ChoiceScore> scores, int predicted, int predictedNorm,
                             int predictedBytes) {
    }

    public record Result(List<ItemResult> items, double seconds) {
        public double acc() {
            return items.stream().filter(i -> i.predicted() == i.gold()).count() / (double) items.size();
        }

        public double accNorm() {
            return items.stream().filter(i -> i.predictedNorm() == i.gold()).count() / (double) items.size();
        }

        public double accNormBytes() {
            return items.stream().filter(i -> i.predictedBytes() == i.gold()).count() / (double) items.size();
        }
    }

    /**
     * Scores every choice of every item, all in one layer-major pass; {@code progress} receives items as their
     * choices pass the layers, {@code onLayer} each finished layer.
     */
    public static Result run(Model model, ExpertMask mask, Tokenizer tok, List<ChoiceItem> items, Path source,
                             IntConsumer progress, Consumer<LayerProgress> onLayer) {
        long t0 = System.nanoTime();
        List<int[]> sequences = new ArrayList<>();
        List<Integer> froms = new ArrayList<>();
        List<Double> units = new ArrayList<>();
        for (ChoiceItem item : items) {
            int[] context = tok.encode(item.query());
            if (context.length == 0) throw new MoepruneException(source + ":" + item.line() + ": the query encodes to no tokens");
            for (int c = 0; c < item.choices().size(); c++) {
                int[] whole = tok.encode(item.query() + item.choices().get(c));
                if (whole.length <= context.length) {
                    throw new MoepruneException(source + ":" + item.line() + ": choice " + c + " adds no tokens to the query");
                }
                sequences.add(whole);
                froms.add(context.length);
                units.add(1.0 / item.choices().size());
            }
        }
        List<Perplexity.Span> spans = new Perplexity(model, mask).scoreAllFrom(sequences,
                froms.stream().mapToInt(Integer::intValue).toArray(),
                LayerMajorListener.crediting(units.stream().mapToDouble(Double::doubleValue).toArray(),
                        model.layers().size(), progress, onLayer));
        List<ItemResult> results = new ArrayList<>();
        int next = 0;
        for (ChoiceItem item : items) {
            List<ChoiceScore> scores = new ArrayList<>();
            for (String choice : item.choices()) {
                Perplexity.Span s = spans.get(next++);
                scores.add(new ChoiceScore(-s.nll(), s.predicted(), choice.getBytes(StandardCharsets.UTF_8).length));
            }
            results.add(new ItemResult(item.line(), item.gold(), List.copyOf(scores),
                    argmax(scores.stream().mapToDouble(ChoiceScore::logProb).toArray()),
                    argmax(scores.stream().mapToDouble(ChoiceScore::perToken).toArray()),
                    argmax(scores.stream().mapToDouble(ChoiceScore::perByte).toArray())));
        }
        return new Result(List.copyOf(results), (System.nanoTime() - t0) / 1e9);
    }

    /** The same without layer reports. */
    public static Result run(Model model, ExpertMask mask, Tokenizer tok, List<ChoiceItem> items, Path source,
                             IntConsumer progress) {
        return run(model, mask, tok, items, source, progress, p -> { });
    }

    static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
