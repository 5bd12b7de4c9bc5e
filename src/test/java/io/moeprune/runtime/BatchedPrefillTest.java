package io.moeprune.runtime;

import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.SafetensorsFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Prompts prefilled together ({@link BatchedPrefill}) against each prefilled alone, on every conformance family:
 * three prompts of different lengths (two reference prompts and a prefix of one), the last token's logits and a decode
 * step after them (which reads the caches the batched prefill wrote) within the tolerance of {@link BatchedDecodeTest}
 * of the largest logit, and the same greedy tokens.
 */
class BatchedPrefillTest {
    @ParameterizedTest
    @MethodSource("io.moeprune.runtime.ConformanceTest#batchingFixtures")
    void batchedPrefillEqualsEachPromptAlone(String fixture) {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec);
             SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
            List<int[]> prompts = ConformanceTest.batchPrompts(ref);
            List<InferenceState> states = prompts.stream().map(p -> model.newState()).toList();
            float[][] batched = BatchedPrefill.run(model, prompts, states);
            double worst = 0;
            for (int i = 0; i < prompts.size(); i++) {
                InferenceState alone = model.newState();
                float[] want = model.forward(prompts.get(i), alone, false);
                assertEquals(prompts.get(i).length, states.get(i).position());
                worst = Math.max(worst, BatchedDecodeTest.relativeDifference(batched[i], want));
                int token = Sampler.argmax(want, 0, want.length);
                assertEquals(token, Sampler.argmax(batched[i], 0, batched[i].length), fixture + " prompt " + i);
                float[] next = model.decode(token, states.get(i)), nextAlone = model.decode(token, alone);
                worst = Math.max(worst, BatchedDecodeTest.relativeDifference(next, nextAlone));
            }
            System.out.printf("BatchedPrefillTest %s: max |batched - alone| / max |logit| = %.2e%n", fixture, worst);
            double limit = io.moeprune.kernels.Kernels.batchesOnTiles() ? 1e-4 : 1e-5;
            assertTrue(worst < limit, fixture + " batched prefill logits differ by " + worst);
        }
    }

    @org.junit.jupiter.api.Test
    void aBatchRoutesWithOneMask() {
        Path dir = ConformanceTest.FIXTURES.resolve("qwen3_moe");
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec)) {
            int experts = spec.moe().numExperts();
            java.util.Map<Integer, int[]> kept = new java.util.TreeMap<>();
            for (int l : spec.moeLayers()) kept.put(l, java.util.stream.IntStream.range(0, spec.moe().topK()).toArray());
            InferenceState a = model.newState(), b = model.newState().withMask(ExpertMask.of(kept, experts));
            assertThrows(IllegalArgumentException.class,
                    () -> BatchedPrefill.run(model, List.of(new int[]{1, 2}, new int[]{3}), List.of(a, b)));
            assertEquals(0, a.position());
        }
    }
}
