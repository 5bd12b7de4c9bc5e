package io.moeprune.gpu.runtime;

import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
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
    /**
     * A step whose token (or the one before, whose keys and values it reads) has a router margin (the CPU's k-th
     * largest router logit less the next, over the MoE layers) below this may take another expert on the device:
     * twice what BF16 products move the router logits (1.0e-2 at moe-tiny-7d's generated positions, HostOps prefill
     * against the CPU, 2026-12-07), PassComparison's rule for a swap within the error.
     */
    public static final double FLIP_MARGIN = 2e-2;
    /**
     * The limit of such a step's logits: another expert moves the token's output by that expert's contribution, not by
     * BF16 steps (moe-tiny-7d, 8 Markdown prompts, 24 steps on HostOps: 1.3e-2 to 8.4e-2 at margins of 7e-4 to 9e-3;
     * 5.2e-2 on the H100, 2026-12-07, the same step as HostOps's); the other steps keep the bound.
     */
    public static final double NEAR_TIE_STEP_LIMIT = 0.1;

    private GenerationComparison() {
    }

    /**
     * The comparison of one prompt: steps compared, whether (and where) the tokens diverged, the largest logit error
     * of the steps away from near ties, and of those at one ({@link #FLIP_MARGIN}: {@code tieSteps} of them, the
     * ones over 1e-2 described in {@code ties} with their margins).
     */
    public record Result(int steps, int divergedAt, double logitError, boolean nearTie, int tieSteps,
                         double tieError, String ties) {
        @Override
        public String toString() {
            return String.format("%d steps, logits %.1e%s%s", steps, logitError,
                    tieSteps == 0 ? "" : String.format(" (%d at a near tie: %.1e%s)", tieSteps, tieError, ties),
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
        double[] margins = stepMargins(model, mask, prompt, cpu);
        double worst = 0, tieError = 0;
        int tieSteps = 0;
        StringBuilder ties = new StringBuilder();
        int steps = Math.min(cpu.length, dev.length);
        for (int s = 0; s < steps; s++) {
            float[] a = cpuLogits.get(s), b = devLogits.get(s);
            if (cpu[s] != dev[s]) {
                double moved = 0;
                for (int i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - b[i]));
                boolean tie = Math.abs(a[cpu[s]] - a[dev[s]]) <= 2 * moved;
                return new Result(s + 1, s, worst, tie, tieSteps, tieError, ties.toString());
            }
            double e = PassComparison.relativeError(b, a);
            double margin = Math.min(margins[s], s > 0 ? margins[s - 1] : Double.POSITIVE_INFINITY);
            if (margin < FLIP_MARGIN) {
                tieSteps++;
                tieError = Math.max(tieError, e);
                if (e >= 1e-2) ties.append(String.format("; step %d %.1e, margin %.1e", s, e, margin));
            } else {
                worst = Math.max(worst, e);
            }
        }
        return new Result(steps, -1, worst, false, tieSteps, tieError, ties.toString());
    }

    /**
     * Each step's router margin on the CPU: the smallest, over the MoE layers, of the k-th largest router logit less
     * the next, at the position whose logits the step gave (prompt's last, then each generated token's but the last).
     * The CPU's layer-major pass over prompt and tokens routes as its decode steps did. Raw logits: with a selection
     * bias (DeepSeek-V3) the routing's own margin is another, so there this only marks steps (none failed, 2026-12-07).
     */
    private static double[] stepMargins(Model model, ExpertMask mask, int[] prompt, int[] tokens) {
        int e = model.spec().moe().numExperts(), k = model.spec().moe().topK();
        int[] seq = java.util.Arrays.copyOf(prompt, prompt.length + Math.max(0, tokens.length - 1));
        System.arraycopy(tokens, 0, seq, prompt.length, seq.length - prompt.length);
        double[] byPosition = new double[seq.length];
        java.util.Arrays.fill(byPosition, Double.POSITIVE_INFINITY);
        new LayerMajorPass(model, mask, LayerMajorPass.Logits.NONE).run(List.of(seq), s -> t -> {
            float[] z = t.routerLogits();
            for (int p = 0; p < z.length / e && k < e; p++) {
                float[] row = java.util.Arrays.copyOfRange(z, p * e, p * e + e);
                java.util.Arrays.sort(row);
                byPosition[p] = Math.min(byPosition[p], row[e - k] - row[e - k - 1]);
            }
        }, (s, l) -> { }, LayerMajorListener.NONE);
        return java.util.Arrays.copyOfRange(byPosition, prompt.length - 1, seq.length);
    }

    /**
     * Logits within {@code bound} up to a divergence at the steps away from near ties, within
     * {@link #NEAR_TIE_STEP_LIMIT} at those near one, and a divergence only at a near tie.
     */
    public static void assertBounds(String what, Result r, double bound) {
        assertTrue(r.logitError() < bound, what + ": " + r);
        assertTrue(r.tieError() < NEAR_TIE_STEP_LIMIT, what + ": " + r);
        assertTrue(r.divergedAt() < 0 || r.nearTie(), what + ": " + r);
    }
}
