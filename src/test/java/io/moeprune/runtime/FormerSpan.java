package io.moeprune.runtime;

/**
 * Perplexity's {@code span} as it was before token scores ({@link TokenScores}), kept verbatim as the reference the
 * scores must equal bit for bit (the CPU's) or within the GPU's tolerance.
 */
public final class FormerSpan {
    private FormerSpan() {
    }

    /** The loss and hits of tokens ids[from..] from the logits [ids.length, vocab] of the whole sequence. */
    public static Perplexity.Span of(float[] logits, int[] ids, int from) {
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
        return new Perplexity.Span(ids.length - from, nll, hits);
    }
}
