package io.moeprune.runtime;

import java.util.Arrays;
import java.util.Collection;
import java.util.function.IntPredicate;

/**
 * Prefills a prompt, then decodes token by token with the KV cache, handing each new token to a callback. The
 * forward passes run on the process's device ({@link PrefillPasses#decoding}: the CPU unless a command's
 * {@code --device} chose a GPU); sampling and stopping happen here, on the host, whatever runs them.
 */
public final class Generator {
    private final Model model;
    private final ExpertMask mask;
    private final DecodeSteps.Factory steps;

    public Generator(Model model) {
        this(model, ExpertMask.NONE);
    }

    /** A generator whose forward passes route with {@code mask} (mask mode, as a pruned checkpoint would). */
    public Generator(Model model, ExpertMask mask) {
        this(model, mask, null);
    }

    /** A generator on {@code steps} (null: the process's device). */
    public Generator(Model model, ExpertMask mask, DecodeSteps.Factory steps) {
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.steps = steps;
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
        DecodeSteps.Factory factory = steps != null ? steps : PrefillPasses.decoding();
        try (DecodeSteps run = factory.open(model, mask, prompt.length + maxTokens)) {
            // Greedy sampling takes the runtime's own argmax: a GPU's picks it on the device, the logits stay there.
            boolean greedy = sampler.isGreedy();
            long t0 = System.nanoTime();
            int next = greedy ? run.prefillGreedy(prompt) : sampler.next(run.prefill(prompt));
            long t1 = System.nanoTime();
            int[] out = new int[maxTokens];
            int count = 0;
            boolean stopped = false;
            while (count < maxTokens) {
                out[count++] = next;
                if (!onToken.test(next) || eosIds.contains(next)) {
                    stopped = true;
                    break;
                }
                if (count < maxTokens) next = greedy ? run.decodeGreedy(next) : sampler.next(run.decode(next));
            }
            long t2 = System.nanoTime();
            return new Result(Arrays.copyOf(out, count), prompt.length, (t1 - t0) / 1e9, (t2 - t1) / 1e9, stopped);
        }
    }
}
