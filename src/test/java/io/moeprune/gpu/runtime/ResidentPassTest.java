package io.moeprune.gpu.runtime;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.PrefillPass;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer-major pass over the session's resident weights ({@link ResidentModel}) on HostOps: the same floats as the
 * streamed pass (logits, routings, observers' reductions, token scores, calibration statistics), masked or not; a
 * bound too small for the whole model streams with the streamed pass's results; generation and passes share one
 * upload in either order; another model replaces the first; closing returns the device's memory.
 */
class ResidentPassTest {
    private static final long BOUND = 1L << 30;
    private static final String[] SOME = {"qwen3_moe", "deepseek_v3_fp8", "gpt_oss_mxfp4", "granitemoe"};

    private static Model open(String fixture) {
        return Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
    }

    private static List<int[]> sequences(Model model) {
        return PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
    }

    /** Everything a pass hands out: each sequence's logits and each (sequence, layer)'s trace arrays, in order. */
    private static Map<String, float[]> seen(PrefillPass pass, List<int[]> seqs) {
        Map<String, float[]> seen = new HashMap<>();
        IntFunction<MoeObserver> observers = s -> t -> {
            seen.put(s + "/" + t.layer() + " chosen", toFloats(t.chosen()));
            seen.put(s + "/" + t.layer() + " router", t.routerLogits().clone());
            seen.put(s + "/" + t.layer() + " weights", t.weights().clone());
            seen.put(s + "/" + t.layer() + " slot norms", t.slotNorms().clone());
            seen.put(s + "/" + t.layer() + " turns", t.turns().clone());
        };
        pass.run(seqs, observers, (s, l) -> seen.put(s + " logits", l), LayerMajorListener.NONE);
        return seen;
    }

    private static float[] toFloats(int[] ids) {
        float[] f = new float[ids.length];
        for (int i = 0; i < ids.length; i++) f[i] = ids[i];
        return f;
    }

    private static void assertSameFloats(Map<String, float[]> expected, Map<String, float[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        for (var e : expected.entrySet()) {
            assertArrayEquals(e.getValue(), actual.get(e.getKey()), what + " " + e.getKey());
        }
    }

    private static ExpertStats calibrate(Model model, List<int[]> seqs, PrefillPasses.Factory factory) {
        PrefillPasses.use(factory, "test device");
        try {
            return new Calibrator(model).run(seqs, seqs.stream().map(Arrays::toString).toList(), "f", "d", n -> { });
        } finally {
            PrefillPasses.reset();
        }
    }

    private static void assertSameStats(ExpertStats expected, ExpertStats actual, String what) {
        for (Statistic stat : Statistic.values()) {
            assertTrue(Arrays.deepEquals(expected.aggregate(stat), actual.aggregate(stat)), what + " " + stat);
        }
    }

    private static TokenScores[] scores(PrefillPass pass, List<int[]> seqs) {
        return ScoreComparison.scores(pass, seqs, new int[seqs.size()]);
    }

    private static void assertSameScores(TokenScores[] expected, TokenScores[] actual, String what) {
        assertEquals(expected.length, actual.length);
        for (int s = 0; s < expected.length; s++) {
            if (expected[s] == null) {
                assertEquals(null, actual[s], what + " sequence " + s);
                continue;
            }
            assertArrayEquals(expected[s].nll(), actual[s].nll(), what + " sequence " + s);
            assertArrayEquals(expected[s].hits(), actual[s].hits(), what + " sequence " + s);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3_fp8", "gpt_oss_mxfp4", "granitemoe", "deepseek_v2"})
    void theResidentPassEqualsTheStreamedOne(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             ResidentModel resident = new ResidentModel(ops, BOUND)) {
            List<int[]> seqs = sequences(model);
            PrefillPasses.Factory streamed = (m, mask, l) -> new GpuLayerMajorPass(m, mask, l, ops, BOUND);
            PrefillPasses.Factory onResident = (m, mask, l) -> new GpuLayerMajorPass(m, mask, l, ops, BOUND, resident);
            Map<String, float[]> expected = seen(streamed.create(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL), seqs);
            Map<String, float[]> actual = seen(onResident.create(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL), seqs);
            assertEquals(1, resident.uploads(), "the first pass makes the model resident");
            assertSameFloats(expected, actual, fixture);
            assertSameScores(scores(streamed.create(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES), seqs),
                    scores(onResident.create(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES), seqs), fixture);
            assertSameStats(calibrate(model, seqs, streamed), calibrate(model, seqs, onResident), fixture);

            // One resident set serves every mask: the mask acts in routing, not in the weights.
            int experts = model.spec().moe().numExperts();
            Map<Integer, int[]> kept = new HashMap<>();
            for (int l : model.spec().moeLayers()) kept.put(l, IntStream.range(0, experts).filter(e -> e % 2 == 0).toArray());
            ExpertMask mask = ExpertMask.of(kept, experts);
            assertSameFloats(seen(streamed.create(model, mask, LayerMajorPass.Logits.LAST), seqs),
                    seen(onResident.create(model, mask, LayerMajorPass.Logits.LAST), seqs), fixture + " masked");
            assertEquals(1, resident.uploads(), "passes, scores, calibration and masks share one upload");
        }
    }

    @Test
    void aBoundTooSmallForTheWholeModelStreamsWithTheSameResults() {
        for (String fixture : SOME) {
            try (Model model = open(fixture)) {
                // The whole bound is what the resident weights alone would take: nothing would be left for the pass.
                long bound = ResidentWeights.bytes(model, LayerPlan.of(model));
                List<int[]> seqs = sequences(model);
                Map<String, float[]> expected;
                try (HostOps ops = new HostOps(bound)) {
                    expected = seen(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops, bound),
                            seqs);
                }
                try (HostOps ops = new HostOps(bound); ResidentModel resident = new ResidentModel(ops, bound)) {
                    Map<String, float[]> actual = seen(new GpuLayerMajorPass(model, ExpertMask.NONE,
                            LayerMajorPass.Logits.ALL, ops, bound, resident), seqs);
                    assertEquals(0, resident.uploads(), fixture + " streams");
                    assertEquals(0, ops.allocatedBytes(), fixture + ": nothing stays on the device");
                    assertSameFloats(expected, actual, fixture);
                }
            }
        }
    }

    /** Generation made the model resident in a bound that leaves this pass too little: it releases them and streams. */
    @Test
    void aPassThatDoesNotFitBesideGenerationsWeightsStreamsInTheirPlace() {
        try (Model model = open("qwen3_moe")) {
            List<LayerPlan> plans = LayerPlan.of(model);
            // 537 KB: the weights (441 KB) and a 16-position generation fit; two slots (2 × 126 KB) and a chunk of 60
            // tokens (3.6 KB a token) fit too, but not beside the whole weights.
            long bound = ResidentWeights.bytes(model, plans) + GpuDecoder.bytes(model, plans, 1, 16);
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 60, 40);
            Map<String, float[]> expected;
            try (HostOps ops = new HostOps(bound)) {
                expected = seen(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops, bound),
                        seqs);
            }
            try (HostOps ops = new HostOps(bound); ResidentModel resident = new ResidentModel(ops, bound);
                 GpuGeneration gen = new GpuGeneration(ops, bound, resident)) {
                try (GpuDecoder decoder = gen.openBatch(model, ExpertMask.NONE, 1, 16)) {
                    decoder.prefill(0, Arrays.copyOf(seqs.getFirst(), 7));
                }
                assertEquals(1, resident.uploads());
                assertTrue(ops.allocatedBytes() > 0, "resident after generation");
                Map<String, float[]> actual = seen(new GpuLayerMajorPass(model, ExpertMask.NONE,
                        LayerMajorPass.Logits.ALL, ops, bound, resident), seqs);
                assertEquals(0, ops.allocatedBytes(), "released for the streamed pass");
                assertSameFloats(expected, actual, "qwen3_moe");
            }
        }
    }

    @Test
    void generationAfterAPassAndAPassAfterGenerationShareOneUpload() {
        try (Model model = open("qwen3_moe")) {
            int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 7).getFirst();
            List<float[]> alone = new ArrayList<>();
            try (HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
                GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 4, alone);
            }
            try (HostOps ops = new HostOps(BOUND); ResidentModel resident = new ResidentModel(ops, BOUND);
                 GpuGeneration gen = new GpuGeneration(ops, BOUND, resident)) {
                new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND, resident)
                        .run(sequences(model), null, (s, l) -> { }, LayerMajorListener.NONE);
                long held = ops.allocatedBytes();
                assertTrue(held >= ResidentWeights.bytes(model, LayerPlan.of(model)) / 2, "resident: " + held);
                List<float[]> after = new ArrayList<>();
                GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 4, after);
                assertEquals(1, resident.uploads(), "generation used the pass's weights");
                assertEquals(held, ops.allocatedBytes(), "generation's cache and activations were freed");
                assertEquals(alone.size(), after.size());
                for (int i = 0; i < alone.size(); i++) assertArrayEquals(alone.get(i), after.get(i), "step " + i);
            }
            try (HostOps ops = new HostOps(BOUND); ResidentModel resident = new ResidentModel(ops, BOUND);
                 GpuGeneration gen = new GpuGeneration(ops, BOUND, resident)) {
                GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 2, new ArrayList<>());
                long held = ops.allocatedBytes();
                GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops,
                        BOUND, resident).timed();
                pass.run(sequences(model), null, (s, l) -> { }, LayerMajorListener.NONE);
                assertEquals(1, resident.uploads(), "the pass used generation's weights");
                assertEquals(held, ops.allocatedBytes());
                assertEquals(model.layers().size(), pass.layerTimes().size());
                for (LayerTimes t : pass.layerTimes()) {
                    assertEquals(0, t.bytesCopied(), t.toString());
                    assertEquals(0, t.copySeconds(), t.toString());
                    assertTrue(t.computeSeconds() > 0 && t.computeSeconds() == t.wallSeconds(), t.toString());
                }
            }
        }
    }

    @Test
    void anotherModelReplacesTheFirstAndClosingFreesIt() {
        try (Model first = open("qwen3_moe"); Model second = open("olmoe"); HostOps ops = new HostOps(BOUND)) {
            long secondAlone;
            try (HostOps other = new HostOps(BOUND); ResidentModel r = new ResidentModel(other, BOUND)) {
                r.upload(second);
                secondAlone = other.allocatedBytes();
            }
            try (ResidentModel resident = new ResidentModel(ops, BOUND)) {
                for (Model m : List.of(first, second)) {
                    new GpuLayerMajorPass(m, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND, resident)
                            .run(sequences(m), null, (s, l) -> { }, LayerMajorListener.NONE);
                }
                assertEquals(2, resident.uploads());
                assertEquals(secondAlone, ops.allocatedBytes(), "only the second model's weights stay");
                new GpuLayerMajorPass(second, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND, resident)
                        .run(sequences(second), null, (s, l) -> { }, LayerMajorListener.NONE);
                assertEquals(2, resident.uploads(), "the second model stays resident");
            }
            assertEquals(0, ops.allocatedBytes(), "closing the session's resident model frees its weights");
        }
    }
}
