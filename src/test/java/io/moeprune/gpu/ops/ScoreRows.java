package io.moeprune.gpu.ops;

import io.moeprune.runtime.FormerSpan;
import io.moeprune.runtime.Perplexity;
import io.moeprune.runtime.TokenScores;

import java.util.Arrays;
import java.util.Random;

/**
 * Inputs of {@link DeviceOps#tokenScores} (and {@link DeviceOps#greedyTokens}) and what it must give for them, shared
 * by the HostOps test and the CUDA kernel's: random logits [rows, vocab] with ties for the largest (the target the
 * lower or the higher index), rows without a target (−1), a row with a NaN before an infinity and one with
 * −infinity; expected from Perplexity's former arithmetic ({@link FormerSpan}) on each row divided as the CPU
 * divides.
 */
public record ScoreRows(int rows, int vocab, float[] logits, int[] targets) {
    /** The row holding a NaN at 17 (and +infinity at 100), and the one holding −infinity at vocab − 3. */
    public static final int NAN_ROW = 1, INFINITE_ROW = 4;

    /** What tokenScores writes: nll F32, hits and flags int32, a row each. */
    public record Expected(float[] nll, int[] hits, int[] flags) {
    }

    public static ScoreRows random(long seed, int rows, int vocab) {
        Random r = new Random(seed);
        float[] logits = new float[rows * vocab];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 5);
        int[] targets = new int[rows];
        for (int row = 0; row < rows; row++) {
            targets[row] = row % 5 == 2 ? -1 : r.nextInt(vocab);
            int t = targets[row];
            if (t < 0) continue;
            if (row % 3 == 0) {
                // A tie for the largest: a hit only where the target is the lower index.
                int other = (t + 1 + r.nextInt(vocab - 1)) % vocab;
                logits[row * vocab + t] = 40f;
                logits[row * vocab + other] = 40f;
            } else if (row % 3 == 1) {
                logits[row * vocab + t] = 40f;   // the target alone on top: a hit
            }
        }
        logits[NAN_ROW * vocab + 17] = Float.NaN;
        logits[NAN_ROW * vocab + 100] = Float.POSITIVE_INFINITY;
        logits[INFINITE_ROW * vocab + vocab - 3] = Float.NEGATIVE_INFINITY;
        return new ScoreRows(rows, vocab, logits, targets);
    }

    /** The outputs for {@code divisor}: each row divided in float (unless 1 or 0), then scored as Perplexity did. */
    public Expected expected(float divisor) {
        float[] nll = new float[rows];
        int[] hits = new int[rows], flags = new int[rows];
        for (int row = 0; row < rows; row++) {
            float[] pair = new float[2 * vocab];   // the row, then a row nothing predicts from
            for (int i = 0; i < vocab; i++) {
                float l = logits[row * vocab + i];
                pair[i] = divisor != 1f && divisor != 0f ? l / divisor : l;
                if (flags[row] == 0 && !Float.isFinite(pair[i])) flags[row] = 2 * (vocab - i) + (Float.isNaN(pair[i]) ? 1 : 0);
            }
            if (flags[row] != 0 || targets[row] < 0) continue;
            Perplexity.Span s = FormerSpan.of(pair, new int[]{0, targets[row]}, 1);
            nll[row] = (float) s.nll();
            hits[row] = s.hits();
        }
        return new Expected(nll, hits, flags);
    }

    /**
     * What {@link DeviceOps#greedyTokens} writes as ids for {@code divisor}: each finite row's lowest index of its
     * largest divided logit ({@link TokenScores#argmax}, a scan of its own), −1 for a row with a non-finite one (its
     * flags are {@link #expected}'s).
     */
    public int[] greedyIds(float divisor) {
        int[] flags = expected(divisor).flags(), ids = new int[rows];
        float[] row = new float[vocab];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < vocab; i++) {
                float l = logits[r * vocab + i];
                row[i] = divisor != 1f && divisor != 0f ? l / divisor : l;
            }
            ids[r] = flags[r] != 0 ? -1 : TokenScores.argmax(row, 0, vocab);
        }
        return ids;
    }

    /** How many rows are hits (the test's inputs hold some of each). */
    public static int count(int[] hits) {
        return (int) Arrays.stream(hits).filter(h -> h != 0).count();
    }
}
