package io.moeprune.runtime;

import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.SafetensorsFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batched decode step against decoding each sequence alone, on every conformance family: three sequences at
 * different positions (two prompts and a prefix of one), six steps, the same greedy tokens and logits within 1e-5
 * of the largest logit (the batched products may sum in another order).
 */
class BatchedDecodeTest {
    static final int STEPS = 6;

    @ParameterizedTest
    @MethodSource("io.moeprune.runtime.ConformanceTest#batchingFixtures")
    void batchedStepEqualsEachSequenceAlone(String fixture) {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec);
             SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
            List<int[]> prompts = ConformanceTest.batchPrompts(ref);
            int n = prompts.size();
            // Alone: each sequence's greedy tokens and logits at every step.
            int[][] tokens = new int[n][STEPS];
            float[][][] alone = new float[n][STEPS][];
            for (int i = 0; i < n; i++) {
                InferenceState s = model.newState();
                float[] logits = model.forward(prompts.get(i), s, false);
                for (int step = 0; step < STEPS; step++) {
                    tokens[i][step] = Sampler.argmax(logits, 0, logits.length);
                    logits = model.decode(tokens[i][step], s);
                    alone[i][step] = logits;
                }
            }
            List<InferenceState> states = prompts.stream().map(p -> {
                InferenceState s = model.newState();
                model.forward(p, s, false);
                return s;
            }).toList();
            double worst = 0;
            for (int step = 0; step < STEPS; step++) {
                int[] next = new int[n];
                for (int i = 0; i < n; i++) next[i] = tokens[i][step];
                float[][] batched = BatchedDecode.step(model, next, states);
                for (int i = 0; i < n; i++) {
                    assertEquals(prompts.get(i).length + step + 1, states.get(i).position());
                    worst = Math.max(worst, relativeDifference(batched[i], alone[i][step]));
                    if (step + 1 < STEPS) {
                        assertEquals(tokens[i][step + 1], Sampler.argmax(batched[i], 0, batched[i].length),
                                fixture + " sequence " + i + " step " + step);
                    }
                }
            }
            System.out.printf("BatchedDecodeTest %s: max |batched - alone| / max |logit| = %.2e%n", fixture, worst);
            // One-row products stay on the vector kernel; a batch's go to the AMX tiles where they run (hi+lo inputs).
            double limit = io.moeprune.kernels.Kernels.batchesOnTiles() ? 1e-4 : 1e-5;
            assertTrue(worst < limit, fixture + " batched logits differ by " + worst);
        }
    }

    @org.junit.jupiter.api.Test
    void aBatchRoutesWithOneMask() {
        Path dir = ConformanceTest.FIXTURES.resolve("qwen3_moe");
        try (Model model = Model.load(dir, TestModels.spec(dir))) {
            InferenceState a = model.newState(), b = model.newState().withMask(ExpertMask.NONE);
            model.forward(new int[]{1, 2}, a, false);
            model.forward(new int[]{3}, b, false);
            // Same mask (NONE): allowed, and each state advances by one.
            float[][] out = BatchedDecode.step(model, new int[]{4, 5}, List.of(a, b));
            assertEquals(2, out.length);
            assertArrayEquals(new int[]{3, 2}, new int[]{a.position(), b.position()});
        }
    }

    static double relativeDifference(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double diff = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }
}
