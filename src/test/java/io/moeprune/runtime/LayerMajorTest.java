package io.moeprune.runtime;

import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer-major order against the document-major reference: the same floats in every MoE trace, logits, losses and
 * calibration statistics, on every conformance family and both shared models, with the residual streams in one chunk
 * and spilled to a temporary file.
 */
class LayerMajorTest {
    static final Path SHARED = Path.of("../shared/models");
    static final Path DATA = Path.of("../shared/data/domains");

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void conformanceFamilies(String fixture) throws IOException {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        try (Model model = Models.open(dir)) {
            List<int[]> seqs = randomSequences(model.spec().vocabSize(), new int[]{9, 1, 0, 17, 5, 12});
            assertSameAsDocumentMajor(model, seqs, null);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"moe-tiny-7d", "moe-tiny-7d-ds3"})
    void sharedModels(String name) throws IOException {
        Path dir = SHARED.resolve(name);
        Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isDirectory(DATA), "shared test bed absent: " + dir);
        Tokenizer tok = Tokenizers.load(dir);
        List<String> texts = Documents.read(DATA.resolve("medical.dev.jsonl"), DocumentForms.of(null, null)).subList(0, 3);
        List<int[]> seqs = new ArrayList<>();
        for (String t : texts) {
            int[] ids = tok.encode(t);
            seqs.add(Arrays.copyOf(ids, Math.min(ids.length, 64)));
        }
        try (Model model = Models.open(dir)) {
            assertSameAsDocumentMajor(model, seqs, texts);
        }
    }

    private static void assertSameAsDocumentMajor(Model model, List<int[]> seqs, List<String> texts) throws IOException {
        Path spillDir = Files.createTempDirectory("layer-major-test");
        // Document-major reference: each sequence through every layer, its traces and all logits kept.
        Map<String, List<Object>> refTraces = new HashMap<>();
        List<float[]> refAll = new ArrayList<>(), refLast = new ArrayList<>();
        Perplexity ppl = new Perplexity(model, ExpertMask.NONE);
        List<Perplexity.DocScore> refScores = new ArrayList<>();
        for (int s = 0; s < seqs.size(); s++) {
            int[] ids = seqs.get(s);
            refScores.add(ppl.score(ids));
            if (ids.length == 0) {
                refAll.add(null);
                refLast.add(null);
                continue;
            }
            int seq = s;
            InferenceState st = model.newState(ids.length).withObserver(t -> refTraces.put(seq + "/" + t.layer(), copy(t)));
            refAll.add(model.forward(ids, st, true));
            refLast.add(model.forward(ids, model.newState(ids.length), false));
        }
        assertTrue(refTraces.size() >= model.spec().moeLayers().size(), "the reference saw the MoE layers");

        for (long budget : new long[]{Long.MAX_VALUE, 1}) {   // on the heap; then spilled to a temporary file
            String what = model.spec().family() + " budget " + budget;
            Map<String, List<Object>> traces = new HashMap<>();
            float[][] all = new float[seqs.size()][];
            List<String> order = new ArrayList<>();
            // The spilled run also streams the weights: read ahead, given back after each layer (advice only).
            long[] spillFiles = {0};
            new LayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, budget).streamWeights(budget == 1)
                    .spillDirectory(spillDir).run(seqs,
                    s -> t -> traces.put(s + "/" + t.layer(), copy(t)), (s, logits) -> all[s] = logits,
                    new LayerMajorListener() {
                        @Override
                        public void sequenceDone(int sequence, int layer) {
                            order.add(sequence + "/" + layer);
                        }

                        @Override
                        public void layerDone(LayerProgress p) {
                            spillFiles[0] = Math.max(spillFiles[0], count(spillDir));
                        }
                    });
            assertEquals(refTraces.keySet(), traces.keySet(), what);
            refTraces.forEach((key, ref) -> assertTraceEquals(ref, traces.get(key), what + " trace " + key));
            for (int s = 0; s < seqs.size(); s++) {
                if (seqs.get(s).length == 0) assertNull(all[s], what + " empty sequence");
                else assertArrayEquals(refAll.get(s), all[s], what + " logits of sequence " + s);
            }
            // Layer-major: every (non-empty) sequence passes layer 0 before any enters layer 1.
            assertEquals("0/0", order.getFirst());
            assertEquals(seqs.stream().filter(q -> q.length > 0).count(),
                    order.stream().takeWhile(o -> o.endsWith("/0")).count(), what + " order " + order);
            assertEquals(budget == 1 ? 1 : 0, spillFiles[0], what + " spill files seen during the pass");
            assertEquals(0, count(spillDir), what + " spill file left behind");
        }
        float[][] last = new float[seqs.size()][];
        new LayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST).run(seqs, null,
                (s, logits) -> last[s] = logits, LayerMajorListener.NONE);
        for (int s = 0; s < seqs.size(); s++) if (refLast.get(s) != null) assertArrayEquals(refLast.get(s), last[s]);

        List<Perplexity.DocScore> scores = ppl.scoreAll(seqs, LayerMajorListener.NONE);
        assertEquals(refScores, scores, "losses");
        assertTrue(scores.stream().anyMatch(x -> x.nll() > 0), "some sequence was scored");

        List<String> names = texts != null ? texts : seqs.stream().map(Arrays::toString).toList();
        Calibrator calibrator = new Calibrator(model);
        ExpertStats ref = calibrator.runDocumentMajor(seqs, names, "f", "d", n -> { });
        long[] credited = {0};
        int[] layersHeard = {0};
        ExpertStats got = calibrator.run(seqs, names, "f", "d", n -> credited[0] += n, p -> {
            layersHeard[0]++;
            assertNotNull(p.describe());
        });
        assertEquals(ref.demos(), got.demos());
        for (Statistic stat : Statistic.values()) {
            assertTrue(Arrays.deepEquals(ref.values().get(stat), got.values().get(stat)), "statistic " + stat);
        }
        assertEquals(seqs.stream().mapToLong(q -> q.length).sum(), credited[0], "progress credits every token once");
        assertEquals(model.layers().size(), layersHeard[0], "one report per layer");
        Files.delete(spillDir);
    }

    private static long count(Path dir) {
        try (var files = Files.list(dir)) {
            return files.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A trace's arrays, copied (they are only valid during the observer's call). */
    private static List<Object> copy(MoeTrace t) {
        List<Object> c = new ArrayList<>();
        c.add(t.positions().clone());
        c.add(t.n());
        for (float[] a : new float[][]{t.residualIn(), t.routerLogits(), t.weights(), t.expertOutputs(), t.routed(),
                t.shared(), t.output()}) {
            c.add(a == null ? null : a.clone());
        }
        c.add(t.chosen().clone());
        return c;
    }

    private static void assertTraceEquals(List<Object> ref, List<Object> got, String what) {
        assertNotNull(got, what);
        for (int i = 0; i < ref.size(); i++) {
            Object a = ref.get(i), b = got.get(i);
            if (a instanceof float[] fa) assertArrayEquals(fa, (float[]) b, what + " field " + i);
            else if (a instanceof int[] ia) assertArrayEquals(ia, (int[]) b, what + " field " + i);
            else assertEquals(a, b, what + " field " + i);
        }
    }

    private static List<int[]> randomSequences(int vocab, int[] lengths) {
        Random r = new Random(20);
        List<int[]> seqs = new ArrayList<>();
        for (int n : lengths) seqs.add(r.ints(n, 0, vocab).toArray());
        return seqs;
    }
}
