package io.moeprune.gpu.runtime;

import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Greedy generation on a device against the CPU's {@link Generator}: the tokens, and each step's logits up to the
 * first step where the chosen tokens differ. Such a divergence must be a near tie: the CPU's logits of the two tokens
 * closer than twice the largest amount the step's logits moved between the runs (BF16 products move logits by about
 * 1e-2 relative; a routing near a tie moves them more). Shared by the HostOps test (CI) and the CUDA one.
 */
public final class GenerationComparison {
    private GenerationComparison() {
    }

    /** The comparison of one prompt: steps compared, whether (and where) the tokens diverged, the largest logit error. */
    public record Result(int steps, int divergedAt, double logitError, boolean nearTie) {
        @Override
        public String toString() {
            return String.format("%d steps, logits %.1e%s", steps, logitError,
                    divergedAt < 0 ? ", same tokens" : ", diverged at step " + divergedAt + (nearTie ? " (near tie)" : " (NOT a near tie)"));
        }
    }

    /** A factory that keeps every step's logits. */
    static final class Recording implements DecodeSteps.Factory {
        private final DecodeSteps.Factory inner;
        final List<float[]> logits = new ArrayList<>();

        Recording(DecodeSteps.Factory inner) {
            this.inner = inner;
        }

        @Override
        public DecodeSteps open(Model model, ExpertMask mask, int positions) {
            DecodeSteps s = inner.open(model, mask, positions);
            return new DecodeSteps() {
                @Override
                public float[] prefill(int[] prompt) {
                    return keep(s.prefill(prompt));
                }

                @Override
                public float[] decode(int token) {
                    return keep(s.decode(token));
                }

                @Override
                public void close() {
                    s.close();
                }
            };
        }

        private float[] keep(float[] l) {
            logits.add(l.clone());
            return l;
        }
    }

    /** Greedy tokens of {@code prompt} on {@code steps}, with every step's logits. */
    static int[] generate(Model model, ExpertMask mask, DecodeSteps.Factory steps, int[] prompt, int newTokens,
                          List<float[]> logits) {
        Recording r = new Recording(steps);
        int[] tokens = new Generator(model, mask, r).generate(prompt, newTokens, Sampler.greedy(), List.of(), t -> true)
                .tokens();
        logits.addAll(r.logits);
        return tokens;
    }

    public static Result compare(Model model, ExpertMask mask, DecodeSteps.Factory device, int[] prompt, int newTokens) {
        List<float[]> cpuLogits = new ArrayList<>(), devLogits = new ArrayList<>();
        int[] cpu = generate(model, mask, DecodeSteps.CPU, prompt, newTokens, cpuLogits);
        int[] dev = generate(model, mask, device, prompt, newTokens, devLogits);
        double worst = 0;
        int steps = Math.min(cpu.length, dev.length);
        for (int s = 0; s < steps; s++) {
            float[] a = cpuLogits.get(s), b = devLogits.get(s);
            if (cpu[s] != dev[s]) {
                double moved = 0;
                for (int i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]));
                boolean tie = Math.abs(a[cpu[s]] - a[dev[s]]) <= 2 * moved;
                return new Result(s + 1, s, worst, tie);
            }
            worst = Math.max(worst, PassComparison.relativeError(b, a));
        }
        return new Result(steps, -1, worst, false);
    }

    /** Logits within {@code bound} up to a divergence, and a divergence only at a near tie. */
    public static void assertBounds(String what, Result r, double bound) {
        assertTrue(r.logitError() < bound, what + ": " + r);
        assertTrue(r.divergedAt() < 0 || r.nearTie(), what + ": " + r);
    }
}
