package io.moeprune.runtime;

import java.util.Arrays;
import java.util.Collection;
import java.util.function.IntPredicate;

/** Prefills a prompt, then decodes token by token with the KV cache, handing each new token to a callback. */
public final class Generator {
    private final Model model;
    private final ExpertMask mask;

    public Generator(Model model) {
        this(model, ExpertMask.NONE);
    }

    /** A generator whose forward passes route with {@code mask} (mask mode, as a pruned checkpoint would). */
    public Generator(Model model, ExpertMask mask) {
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
    }

    /** Timings of one generation. */
    public record Result(int[] tokens, int promptTokens, double prefillSeconds, double decodeSeconds, boolean stopped) {
        public double prefillTokensPerSecond() {
            return promptTokens / prefillSeconds;
        }

        public double decodeTokensPerSecond() {
            return tokens.length <= 1 ? Double.NaN : (tokens.length - 1) / decodeSeconds;
        }
    }

    /**
     * Generates up to {@code maxTokens} tokens after {@code prompt}; stops after an end-of-sequence id (which is
     * reported and included) or when {@code onToken} returns false.
     */
    public Result generate(int[] prompt, int maxTokens, Sampler sampler, Collection<Integer> eosIds, IntPredicate onToken) {
        InferenceState state = model.newState(prompt.length + maxTokens).withMask(mask);
        long t0 = System.nanoTime();
        float[] logits = model.forward(prompt, state, false);
        long t1 = System.nanoTime();
        int[] out = new int[maxTokens];
        int count = 0;
        boolean stopped = false;
        while (count < maxTokens) {
            int next = sampler.next(logits);
            out[count++] = next;
            if (!onToken.test(next) || eosIds.contains(next)) {
                stopped = true;
                break;
            }
            if (count < maxTokens) logits = model.decode(next, state);
        }
        long t2 = System.nanoTime();
        return new Result(Arrays.copyOf(out, count), prompt.length, (t1 - t0) / 1e9, (t2 - t1) / 1e9, stopped);
    }
}
