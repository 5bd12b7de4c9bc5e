package io.moeprune.runtime;

import io.moeprune.kernels.Parallel;

/**
 * What perplexity and choice scoring need of a sequence's logits: for each scored position t (from {@code first} to
 * the next-to-last), the negative log-likelihood in nats of its target, the next token ids[t + 1], under the softmax
 * of position t's logits, and whether the logits' argmax (the lowest index on ties) is that target. Two numbers a
 * position instead of a row of vocab logits: the GPU pass computes them on the device and sends only these back
 * ({@link LayerMajorPass.Logits#SCORES}).
 *
 * @param first the first scored position
 * @param nll   nll[i]: position first + i's loss
 * @param hits  hits[i]: whether position first + i's argmax is its target
 */
public record TokenScores(int first, double[] nll, boolean[] hits) {
    public TokenScores {
        if (nll.length != hits.length) throw new IllegalArgumentException(nll.length + " losses, " + hits.length + " hits");
    }

    /**
     * The scores of positions [first, ids.length − 1) from the logits [ids.length, vocab] of the sequence ids, in the
     * CPU's arithmetic ({@link #argmax}, {@link #nll}: a log-softmax in double). Positions are scored in parallel,
     * each on its own: the same doubles as scoring them one after another.
     */
    public static TokenScores of(float[] logits, int[] ids, int first) {
        if (first < 0) throw new IllegalArgumentException("first " + first);
        int vocab = logits.length / ids.length, count = Math.max(0, ids.length - 1 - first);
        double[] nll = new double[count];
        boolean[] hits = new boolean[count];
        Parallel.forRange(count, 8L * vocab, (from, to) -> {
            for (int i = from; i < to; i++) {
                int off = (first + i) * vocab, target = ids[first + i + 1];
                int best = argmax(logits, off, vocab);
                nll[i] = nll(logits, off, vocab, logits[off + best], target);
                hits[i] = best == target;
            }
        });
        return new TokenScores(first, nll, hits);
    }

    /** The index of the largest of logits[off, off + vocab) − off, the lowest on ties (a strict {@code >} scan). */
    public static int argmax(float[] logits, int off, int vocab) {
        float max = Float.NEGATIVE_INFINITY;
        int best = 0;
        for (int i = 0; i < vocab; i++) {
            if (logits[off + i] > max) {
                max = logits[off + i];
                best = i;
            }
        }
        return best;
    }

    /** log Σ exp(l_i − max) + max − l_target over the row logits[off, off + vocab), in double, summed in index order. */
    public static double nll(float[] logits, int off, int vocab, float max, int target) {
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp((double) logits[off + i] - max);
        return Math.log(sum) + max - logits[off + target];
    }

    /** How many positions were scored. */
    public int predicted() {
        return nll.length;
    }

    /** The losses summed in position order. */
    public double totalNll() {
        double sum = 0;
        for (double v : nll) sum += v;
        return sum;
    }

    /** How many positions' argmax was their target. */
    public int hitCount() {
        int n = 0;
        for (boolean h : hits) if (h) n++;
        return n;
    }
}
