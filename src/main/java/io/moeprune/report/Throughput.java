package io.moeprune.report;

import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;

import java.util.Random;

/**
 * Prefill and decode speed of a model in the runtime, measured the way RuntimeBench does: a fixed random-token prompt
 * (same seed for every model, so full and pruned models see the same tokens), one warm-up pass (JIT, page cache),
 * then a few runs of one batched prefill followed by greedy KV-cache decode steps; each rate keeps the median and the
 * range of the runs.
 */
public record Throughput(Spread prefill, Spread decode, int promptTokens, int decodeSteps, int runs) {

    public static Throughput measure(Model model, int promptTokens, int decodeSteps, int runs) {
        int[] prompt = new Random(7).ints(promptTokens, 0, model.spec().vocabSize()).toArray();
        InferenceState warm = model.newState(promptTokens + decodeSteps);   // one untimed run of the same work
        int w = argmax(model.forward(prompt, warm, false));
        for (int s = 0; s < decodeSteps; s++) w = argmax(model.decode(w, warm));
        double[] prefill = new double[runs], decode = new double[runs];
        for (int r = 0; r < runs; r++) {
            InferenceState state = model.newState(promptTokens + decodeSteps);
            long t0 = System.nanoTime();
            int next = argmax(model.forward(prompt, state, false));
            long t1 = System.nanoTime();
            for (int s = 0; s < decodeSteps; s++) next = argmax(model.decode(next, state));
            long t2 = System.nanoTime();
            prefill[r] = promptTokens / ((t1 - t0) / 1e9);
            decode[r] = decodeSteps / ((t2 - t1) / 1e9);
        }
        return new Throughput(Spread.of(prefill), Spread.of(decode), promptTokens, decodeSteps, runs);
    }

    /** Median prefill tokens/s. */
    public double prefillTokensPerSecond() {
        return prefill.median();
    }

    /** Median decode tokens/s. */
    public double decodeTokensPerSecond() {
        return decode.median();
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
