package io.moeprune.runtime;

/**
 * Next-token loss of a model on token sequences, as conformance/reference_perplexity.py measures it: every token
 * after the first is predicted from its prefix in one batched forward pass; NLL in nats (log-softmax in double),
 * hits = argmax equals the next token.
 */
public final class Perplexity {
    private final Model model;
    private final InferenceState state;

    public Perplexity(Model model, ExpertMask mask) {
        this.model = model;
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
        if (from < 1 || from > ids.length) throw new IllegalArgumentException("from " + from + " of " + ids.length);
        if (from == ids.length) return new Span(0, 0, 0);
        state.reset();
        float[] logits = model.forward(ids, state, true);
        int vocab = logits.length / ids.length;
        double nll = 0;
        int hits = 0;
        for (int t = from - 1; t + 1 < ids.length; t++) {
            int off = t * vocab, target = ids[t + 1];
            float max = Float.NEGATIVE_INFINITY;
            int best = 0;
            for (int i = 0; i < vocab; i++) {
                if (logits[off + i] > max) {
                    max = logits[off + i];
                    best = i;
                }
            }
            double sum = 0;
            for (int i = 0; i < vocab; i++) sum += Math.exp((double) logits[off + i] - max);
            nll += Math.log(sum) + max - logits[off + target];
            if (best == target) hits++;
        }
        return new Span(ids.length - from, nll, hits);
    }
}
