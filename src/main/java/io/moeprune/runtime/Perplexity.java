package io.moeprune.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Next-token loss of a model on token sequences, as conformance/reference_perplexity.py measures it: every token
 * after the first is predicted from its prefix in one batched forward pass; NLL in nats (log-softmax in double),
 * hits = argmax equals the next token ({@link TokenScores}).
 */
public final class Perplexity {
    private final Model model;
    private final ExpertMask mask;
    private final InferenceState state;

    public Perplexity(Model model, ExpertMask mask) {
        this.model = model;
        this.mask = mask;
        this.state = model.newState(512).withMask(mask);
    }

    /** The score of one document. */
    public record DocScore(int tokens, double nll, int hits) {
        public int predicted() {
            return Math.max(tokens - 1, 0);
        }
    }

    public DocScore score(int[] ids) {
        if (ids.length < 2) return new DocScore(ids.length, 0, 0);
        Span s = scoreFrom(ids, 1);
        return new DocScore(ids.length, s.nll(), s.hits());
    }

    /**
     * The score of a continuation: the tokens {@code ids[from..]} predicted from their prefixes (the tokens before
     * {@code from} are context only), in one forward pass. Used for multiple-choice scoring.
     */
    public record Span(int predicted, double nll, int hits) {
    }

    /** Scores tokens {@code ids[from]} to the end given everything before them; {@code from} must be at least 1. */
    public Span scoreFrom(int[] ids, int from) {
        checkFrom(ids, from);
        if (from == ids.length) return new Span(0, 0, 0);
        state.reset();
        return span(TokenScores.of(model.forward(ids, state, true), ids, from - 1));
    }

    /**
     * The scores of many documents at once, layer-major ({@link LayerMajorPass}, or the pass of the
     * {@link PrefillPasses} device): the same as {@link #score} each.
     */
    public List<DocScore> scoreAll(List<int[]> docs, LayerMajorListener listener) {
        int[] from = new int[docs.size()];
        Arrays.fill(from, 1);
        List<int[]> scored = docs.stream().map(d -> d.length < 2 ? new int[0] : d).toList();
        List<Span> spans = scoreAllFrom(scored, from, listener);
        List<DocScore> scores = new ArrayList<>(docs.size());
        for (int i = 0; i < docs.size(); i++) {
            scores.add(new DocScore(docs.get(i).length, spans.get(i).nll(), spans.get(i).hits()));
        }
        return scores;
    }

    /**
     * {@link #scoreFrom} of many sequences at once, layer-major: each layer's weights are read once for all of them.
     * An empty sequence scores nothing.
     */
    public List<Span> scoreAllFrom(List<int[]> sequences, int[] from, LayerMajorListener listener) {
        List<int[]> run = new ArrayList<>(sequences.size());
        for (int i = 0; i < sequences.size(); i++) {
            int[] ids = sequences.get(i);
            if (ids.length > 0) checkFrom(ids, from[i]);
            run.add(ids.length == 0 || from[i] == ids.length ? new int[0] : ids);
        }
        Span[] spans = new Span[sequences.size()];
        Arrays.fill(spans, new Span(0, 0, 0));
        // Token scores, not logits: on a GPU only two numbers a position come back ([n, vocab] F32 otherwise).
        PrefillPasses.create(model, mask, LayerMajorPass.Logits.SCORES).run(run, null, new LayerMajorPass.ScoreSink() {
            @Override
            public int firstScored(int sequence) {
                return from[sequence] - 1;
            }

            @Override
            public void scores(int sequence, TokenScores scores) {
                spans[sequence] = span(scores);
            }
        }, listener);
        return List.of(spans);
    }

    private static void checkFrom(int[] ids, int from) {
        if (from < 1 || from > ids.length) throw new IllegalArgumentException("from " + from + " of " + ids.length);
    }

    /** The loss and hits of tokens {@code ids[from..]}: the scores of positions from − 1 on, summed in order. */
    private static Span span(TokenScores scores) {
        return new Span(scores.predicted(), scores.totalNll(), scores.hitCount());
    }
}
