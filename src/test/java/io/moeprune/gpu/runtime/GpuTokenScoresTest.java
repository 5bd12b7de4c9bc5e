package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU pass's token scores on HostOps (CI's device), on conformance fixtures (GraniteMoE's logits divisor among
 * them): equal to the CPU's scoring of the logits the same device gives (each loss the F32 of the same double), within
 * the GPU runtime's tolerance of the CPU pass's; through Perplexity as the --device users get them; a non-finite logit
 * the CPU's one line naming its position.
 */
class GpuTokenScoresTest {
    private static final long BOUND = 1L << 30;
    /** Sequence s scored from position FIRST[s] on (a context of FIRST[s] tokens before its first target). */
    private static final int[] FIRST = {0, 0, 0, 6, 1};

    private static List<int[]> sequences(Model model) {
        return PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "granitemoe", "gpt_oss", "deepseek_v3"})
    void deviceScoresMatchTheCpu(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture)); HostOps ops = new HostOps(BOUND)) {
            ScoreComparison.Result r = ScoreComparison.compare(model, sequences(model), FIRST, PassComparison.on(ops, BOUND));
            System.out.println(fixture + " token scores: " + r);
            assertEquals(8 + 0 + 0 + 10 + 3, r.positions());
            assertTrue(r.scoringError() < 1e-7, fixture + ": HostOps scores as the CPU does, in F32 " + r);
            assertEquals(0, r.scoringHits(), fixture + " " + r);
            assertTrue(r.nllError() < 3e-2, fixture + " losses " + r);
            assertEquals(0, r.differing(), fixture + " hits " + r);
            assertEquals(0, ops.allocatedBytes(), "everything freed");
        }
    }

    @Test
    void perplexityOnTheDeviceSumsTheDevicesScores() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("granitemoe")); HostOps ops = new HostOps(BOUND)) {
            List<int[]> seqs = sequences(model);
            int[] from = {1, 1, 1, 7, 2};
            PrefillPasses.Factory device = PassComparison.on(ops, BOUND);
            TokenScores[] scores = ScoreComparison.scores(device.create(model, ExpertMask.NONE,
                    LayerMajorPass.Logits.SCORES), seqs, FIRST);
            List<Perplexity.Span> spans;
            PrefillPasses.use(device, "test device");
            try {
                spans = new Perplexity(model, ExpertMask.NONE).scoreAllFrom(seqs, from, LayerMajorListener.NONE);
            } finally {
                PrefillPasses.reset();
            }
            for (int s = 0; s < seqs.size(); s++) {
                if (seqs.get(s).length == 0) {
                    assertNull(scores[s], "an empty sequence has no scores");
                    assertEquals(new Perplexity.Span(0, 0, 0), spans.get(s));
                    continue;
                }
                assertEquals(new Perplexity.Span(scores[s].predicted(), scores[s].totalNll(), scores[s].hitCount()),
                        spans.get(s), "sequence " + s);
            }
        }
    }

    @Test
    void aNonFiniteLogitIsTheCpusOneLineNamingItsPosition() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe")); HostOps host = new HostOps(BOUND)) {
            int vocab = model.spec().vocabSize();
            List<int[]> seqs = List.of(new int[]{3, 1, 4, 1, 5, 9}, new int[]{2, 7, 1, 8, 2, 8, 1, 8});
            // The CPU's error for the same values: a NaN (then an infinity) at row 4 of a sequence's logits.
            float[] rows = new float[8 * vocab];
            rows[4 * vocab + 11] = Float.NaN;
            rows[6 * vocab + 2] = Float.POSITIVE_INFINITY;
            String expected = assertThrows(MoepruneException.class, () -> model.requireFiniteLogits(rows, vocab, 0))
                    .getMessage();
            assertTrue(expected.endsWith("NaN appeared in the final norm or LM head at token position 4: corrupt "
                    + "weights or config.json values"), expected);
            // The second sequence's logits (its scores: the second call) get the same values on the device.
            DeviceOps ops = poisoningScores(host, 1, 4L * vocab + 11, 6L * vocab + 2);
            TokenScores[][] seen = new TokenScores[1][];
            MoepruneException e = assertThrows(MoepruneException.class, () -> {
                seen[0] = new TokenScores[2];
                new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops, BOUND).run(seqs, null,
                        new LayerMajorPass.ScoreSink() {
                            @Override
                            public int firstScored(int sequence) {
                                return 5;   // the bad row is context: checked all the same
                            }

                            @Override
                            public void scores(int sequence, TokenScores scores) {
                                seen[0][sequence] = scores;
                            }
                        }, LayerMajorListener.NONE);
            });
            assertEquals(expected, e.getMessage());
            assertNotNull(seen[0][0], "the sequence before it was scored, as on the CPU");
            assertEquals(0, host.allocatedBytes(), "everything freed after the error");
        }
    }

    @Test
    void aScoresPassRefusesASinkForLogitsBeforeRunning() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe")); HostOps ops = new HostOps(BOUND)) {
            assertThrows(IllegalArgumentException.class, () -> new GpuLayerMajorPass(model, ExpertMask.NONE,
                    LayerMajorPass.Logits.SCORES, ops, BOUND).run(sequences(model), null, (s, l) -> { },
                    LayerMajorListener.NONE));
            assertEquals(0, ops.peakBytes(), "nothing allocated");
        }
    }

    /** HostOps whose tokenScores call number {@code call} first writes NaN at logits element {@code nan}, +inf at {@code inf}. */
    private static DeviceOps poisoningScores(HostOps host, int call, long nan, long inf) {
        AtomicInteger calls = new AtomicInteger();
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("tokenScores") && calls.getAndIncrement() == call) {
                        try (Arena a = Arena.ofConfined()) {
                            MemorySegment v = a.allocate(4);
                            v.set(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                            host.upload(v, (DeviceBuffer) args[0], 4 * nan);
                            v.set(ValueLayout.JAVA_FLOAT, 0, Float.POSITIVE_INFINITY);
                            host.upload(v, (DeviceBuffer) args[0], 4 * inf);
                        }
                    }
                    try {
                        return method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
