package io.moeprune.eval;

import io.moeprune.MoepruneException;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Prefill and decode throughput: a prompt of {@code promptTokens} pseudo-random token ids (fixed seed, so runs
 * compare) is prefilled in one batch, then {@code decodeTokens} tokens are decoded greedily with the KV cache,
 * ignoring end-of-sequence. The same run goes once before as a warm-up, so the JIT has compiled the kernels.
 */
public final class SpeedMeasurement {
    private static final long SEED = 20251123L;

    private SpeedMeasurement() {
    }

    /** Measured rates; decode counts the steps after the first generated token (which prefill produces). */
    public record Result(int promptTokens, int decodeTokens, double prefillSeconds, double decodeSeconds) {
        public double prefillTokensPerSecond() {
            return promptTokens / prefillSeconds;
        }

        public double decodeTokensPerSecond() {
            return (decodeTokens - 1) / decodeSeconds;
        }
    }

    public static Result run(Model model, ExpertMask mask, int promptTokens, int decodeTokens) {
        if (promptTokens < 1) throw new MoepruneException("--prompt-tokens must be at least 1");
        if (decodeTokens < 2) throw new MoepruneException("--decode-tokens must be at least 2");
        int vocab = model.spec().vocabSize();
        SplittableRandom random = new SplittableRandom(SEED);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) prompt[i] = random.nextInt(vocab);
        Generator generator = new Generator(model, mask);
        Sampler greedy = new Sampler(0, 1, 0);
        // Warm-up: the same run once, so the JIT has compiled the prefill and decode paths at these sizes.
        generator.generate(prompt, decodeTokens, greedy, List.of(), t -> true);
        Generator.Result r = generator.generate(prompt, decodeTokens, greedy, List.of(), t -> true);
        return new Result(promptTokens, r.tokens().length, r.prefillSeconds(), r.decodeSeconds());
    }
}
