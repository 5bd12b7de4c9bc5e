package io.moeprune.runtime;

import java.util.Arrays;
import java.util.Random;

/**
 * Picks the next token from logits: greedy (argmax, lowest id on ties) when temperature is 0, otherwise a sample
 * from softmax(logits / temperature) restricted to the smallest set of tokens whose probability reaches top-p.
 */
public final class Sampler {
    private final float temperature;
    private final float topP;
    private final Random random;

    public Sampler(float temperature, float topP, long seed) {
        if (temperature < 0 || Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be >= 0");
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1]");
        this.temperature = temperature;
        this.topP = topP;
        this.random = new Random(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0f, 1f, 0);
    }

    /** Whether the next token is always the argmax ({@link #argmax}): a runtime may pick it without the logits. */
    public boolean isGreedy() {
        return temperature == 0f;
    }

    public int next(float[] logits) {
        if (temperature == 0f) return argmax(logits, 0, logits.length);
        int n = logits.length;
        float max = logits[argmax(logits, 0, n)];
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        double kept = 0;
        int count = 0;
        while (count < n && (count == 0 || kept < topP * sum)) kept += p[order[count++]];
        double r = random.nextDouble() * kept;
        for (int i = 0; i < count; i++) {
            r -= p[order[i]];
            if (r <= 0) return order[i];
        }
        return order[count - 1];
    }

    public static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }
}
