package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ObserverAndMaskTest {
    static final Path QWEN2 = ConformanceTest.FIXTURES.resolve("qwen2_moe");
    static final Path QWEN3 = ConformanceTest.FIXTURES.resolve("qwen3_moe");
    static final int[] PROMPT = {193, 124, 136, 57, 80, 148, 149, 133, 29, 141, 216, 168};

    /** A deep copy of what the observer saw (its arrays are only valid during the call). */
    record Seen(int layer, int[] positions, float[] h, float[] logits, int[] chosen, float[] g, float[] e, float[] r,
                float[] shared, float[] out) {
    }

    static List<Seen> observe(Model model, InferenceState state, int[] tokens) {
        List<Seen> seen = new ArrayList<>();
        state.withObserver(t -> seen.add(new Seen(t.layer(), t.positions().clone(), t.residualIn().clone(),
                t.routerLogits().clone(), t.chosen().clone(), t.weights().clone(), t.expertOutputs().clone(),
                t.routed().clone(), t.shared() == null ? null : t.shared().clone(), t.output().clone())));
        model.forward(tokens, state, true);
        return seen;
    }

    @Test
    void observedValuesAreConsistentWithTheBlockOutput() {
        ModelSpec spec = TestModels.spec(QWEN2);
        try (Model model = Model.load(QWEN2, spec)) {
            InferenceState state = model.newState();
            List<Seen> seen = observe(model, state, PROMPT);
            assertEquals(spec.moeLayers().size(), seen.size());
            int hidden = spec.hiddenSize(), k = spec.moe().topK(), n = PROMPT.length;
            for (Seen s : seen) {
                assertEquals(n, s.positions.length);
                assertEquals(n - 1, s.positions[n - 1]);
                assertNotNull(s.shared, "qwen2_moe has a shared expert");
                double sharedNorm = 0;
                for (int t = 0; t < n; t++) {
                    for (int i = 0; i < hidden; i++) {
                        float sum = 0f;
                        for (int slot = 0; slot < k; slot++) {
                            sum += s.g[t * k + slot] * s.e[(t * k + slot) * hidden + i];
                        }
                        int at = t * hidden + i;
                        assertEquals(s.r[at], sum, 1e-5f * (1 + Math.abs(sum)), "r = sum g*e");
                        assertEquals(s.out[at], s.h[at] + s.r[at] + s.shared[at], 1e-5f * (1 + Math.abs(s.out[at])),
                                "block output = h + r + shared");
                        sharedNorm += s.shared[at] * s.shared[at];
                    }
                }
                assertTrue(sharedNorm > 0);
            }
            // A decode step after the prompt is observed at the next position.
            List<Seen> next = observe(model, state, new int[]{7});
            assertEquals(n, next.getFirst().positions[0]);
        }
    }

    /** gpt-oss's fused experts (BF16 and MXFP4) report each slot's unweighted output, and r = Σ g·e. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"gpt_oss", "gpt_oss_mxfp4"})
    void gptOssExpertOutputsAddUpToTheRoutedOutput(String fixture) {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec)) {
            float[] plain = model.forward(PROMPT, model.newState(), true);
            InferenceState state = model.newState();
            List<Seen> seen = observe(model, state, PROMPT);
            float[] watched = model.forward(PROMPT, model.newState().withObserver(t -> { }), true);
            assertTrue(ConformanceTest.relativeError(watched, 0, plain, 0, plain.length) < 1e-6);
            int hidden = spec.hiddenSize(), k = spec.moe().topK(), n = PROMPT.length;
            assertEquals(spec.moeLayers().size(), seen.size());
            for (Seen s : seen) {
                double expertNorm = 0;
                for (int t = 0; t < n; t++) {
                    for (int i = 0; i < hidden; i++) {
                        float sum = 0f;
                        for (int slot = 0; slot < k; slot++) {
                            float e = s.e[(t * k + slot) * hidden + i];
                            sum += s.g[t * k + slot] * e;
                            expertNorm += e * e;
                        }
                        assertEquals(s.r[t * hidden + i], sum, 1e-5f * (1 + Math.abs(sum)), "r = sum g*e");
                    }
                }
                assertTrue(expertNorm > 0, fixture + " layer " + s.layer + " expert outputs");
            }
        }
    }

    @Test
    void observerDoesNotChangeLogits() {
        ModelSpec spec = TestModels.spec(QWEN3);
        try (Model model = Model.load(QWEN3, spec)) {
            float[] plain = model.forward(PROMPT, model.newState(), true);
            InferenceState watched = model.newState().withObserver(t -> { });
            // Equal up to float rounding: the parallel kernels may split rows differently from call to call.
            float[] observed = model.forward(PROMPT, watched, true);
            assertTrue(ConformanceTest.relativeError(observed, 0, plain, 0, plain.length) < 1e-6);
        }
    }

    @Test
    void maskRoutesOnlyToKeptExpertsAndRenormalises() {
        ModelSpec spec = TestModels.spec(QWEN3);   // softmax, top-2, norm_topk_prob = true
        int layer = spec.moeLayers().getFirst();
        int[] keptIds = {1, 3, 4, 6};
        ExpertMask mask = ExpertMask.of(Map.of(layer, keptIds), spec.moe().numExperts()).validate(spec, null);
        try (Model model = Model.load(QWEN3, spec)) {
            List<Seen> seen = observe(model, model.newState().withMask(mask), PROMPT);
            Seen s = seen.stream().filter(x -> x.layer == layer).findFirst().orElseThrow();
            int k = spec.moe().topK(), e = spec.moe().numExperts();
            for (int t = 0; t < PROMPT.length; t++) {
                // Expected: softmax over the kept logits only, top-k, renormalised.
                double max = Double.NEGATIVE_INFINITY;
                for (int id : keptIds) max = Math.max(max, s.logits[t * e + id]);
                Map<Integer, Double> p = new HashMap<>();
                for (int id : keptIds) p.put(id, Math.exp(s.logits[t * e + id] - max));
                List<Integer> order = new ArrayList<>(p.keySet());
                order.sort((a, b) -> Double.compare(p.get(b), p.get(a)));
                double sum = 0;
                for (int slot = 0; slot < k; slot++) sum += p.get(order.get(slot));
                for (int slot = 0; slot < k; slot++) {
                    int id = s.chosen[t * k + slot];
                    assertTrue(contains(keptIds, id), "masked expert " + id + " chosen");
                    assertEquals(order.get(slot), id);
                    assertEquals(p.get(id) / sum, s.g[t * k + slot], 1e-5);
                }
            }
            // Unmasked layers still route over all experts; at least one token picks an expert outside keptIds.
            Seen other = seen.stream().filter(x -> x.layer != layer).findFirst().orElseThrow();
            boolean outside = false;
            for (int id : other.chosen) outside |= !contains(keptIds, id);
            assertTrue(outside);
        }
    }

    @Test
    void maskChangesTheLogitsOnlyWhenAChosenExpertIsRemoved() {
        ModelSpec spec = TestModels.spec(QWEN3);
        try (Model model = Model.load(QWEN3, spec)) {
            float[] plain = model.forward(PROMPT, model.newState(), true);
            int[] all = {0, 1, 2, 3, 4, 5, 6, 7};
            ExpertMask keepAll = ExpertMask.of(Map.of(0, all), 8);
            float[] all8 = model.forward(PROMPT, model.newState().withMask(keepAll), true);
            assertTrue(ConformanceTest.relativeError(all8, 0, plain, 0, plain.length) < 1e-6);
            ExpertMask drop = ExpertMask.of(Map.of(0, new int[]{0, 1, 2}), 8);
            float[] dropped = model.forward(PROMPT, model.newState().withMask(drop), true);
            assertTrue(ConformanceTest.relativeError(dropped, 0, plain, 0, plain.length) > 1e-3);
        }
    }

    @Test
    void maskFileLoadsAndRejectsBadInput(@TempDir Path dir) throws Exception {
        ModelSpec spec = TestModels.spec(QWEN3);
        Path good = Files.writeString(dir.resolve("mask.json"), "{\"layers\": {\"2\": [0, 5, 7]}}");
        ExpertMask m = ExpertMask.load(good, 8).validate(spec, good);
        assertArrayEquals(new boolean[]{true, false, false, false, false, true, false, true}, m.kept(2));
        assertEquals(null, m.kept(0));

        Path dense = Files.writeString(dir.resolve("dense.json"), "{\"layers\": {\"1\": [0, 1]}}");
        var ex = assertThrows(MoepruneException.class, () -> ExpertMask.load(dense, 8).validate(spec, dense));
        assertTrue(ex.getMessage().contains("not a MoE layer"), ex.getMessage());
        Path tooFew = Files.writeString(dir.resolve("few.json"), "{\"layers\": {\"0\": [3]}}");
        ex = assertThrows(MoepruneException.class, () -> ExpertMask.load(tooFew, 8).validate(spec, tooFew));
        assertTrue(ex.getMessage().contains("fewer than top-k"), ex.getMessage());
        Path outOfRange = Files.writeString(dir.resolve("range.json"), "{\"layers\": {\"0\": [3, 9]}}");
        ex = assertThrows(MoepruneException.class, () -> ExpertMask.load(outOfRange, 8));
        assertTrue(ex.getMessage().startsWith(outOfRange.toString()), ex.getMessage());
        Path broken = Files.writeString(dir.resolve("broken.json"), "{\"layers\": ");
        ex = assertThrows(MoepruneException.class, () -> ExpertMask.load(broken, 8));
        assertTrue(ex.getMessage().contains("not valid JSON"), ex.getMessage());
    }

    static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }
}
