package io.moeprune.runtime;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Token scores against the arithmetic Perplexity used before them ({@link FormerSpan}): the same
 * doubles, from random logits with ties and from the passes (layer-major {@link LayerMajorPass.Logits#SCORES} and
 * document-major) on conformance fixtures, GraniteMoE's logits divisor among them.
 */
class TokenScoresTest {

    @Test
    void randomLogitsWithTiesScoreAsTheFormerSpan() {
        Random r = new Random(22);
        int vocab = 1000, n = 40;
        float[] logits = new float[n * vocab];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 4);
        int[] ids = r.ints(n, 0, vocab).toArray();
        boolean[] targetFirst = new boolean[n];
        for (int t = 0; t + 1 < n; t += 3) {
            // A tie for the largest logit between the target and another: a hit only where the target is the lower.
            int target = ids[t + 1], other = (target + 1 + r.nextInt(vocab - 1)) % vocab;
            int lo = Math.min(target, other), hi = Math.max(target, other);
            logits[t * vocab + lo] = 30f;
            logits[t * vocab + hi] = 30f;
            targetFirst[t] = lo == target;
        }
        for (int from = 1; from <= n; from += 7) {
            TokenScores s = TokenScores.of(logits, ids, from - 1);
            Perplexity.Span expected = FormerSpan.of(logits, ids, from);
            assertEquals(expected.nll(), s.totalNll(), 0, "from " + from);
            assertEquals(expected.hits(), s.hitCount(), "from " + from);
            assertEquals(expected.predicted(), s.predicted(), "from " + from);
            assertEquals(from - 1, s.first());
        }
        TokenScores all = TokenScores.of(logits, ids, 0);
        int tiesWon = 0;
        for (int t = 0; t + 1 < n; t += 3) {
            assertEquals(targetFirst[t], all.hits()[t], "a tie is the lowest index's: position " + t);
            if (targetFirst[t]) tiesWon++;
        }
        assertTrue(tiesWon > 0 && tiesWon < (n + 1) / 3, "ties won and lost: " + tiesWon);
        assertEquals(0, TokenScores.of(logits, ids, n - 1).predicted(), "nothing after the last position");
        assertThrows(IllegalArgumentException.class, () -> TokenScores.of(logits, ids, -1));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "granitemoe", "deepseek_v3"})
    void bothPassesScoreAsTheFormerSpanBitForBit(String fixture) {
        try (Model model = Models.open(ConformanceTest.FIXTURES.resolve(fixture))) {
            int vocab = model.spec().vocabSize();
            Random r = new Random(7);
            List<int[]> seqs = new ArrayList<>();
            for (int n : new int[]{9, 2, 17, 5, 12}) seqs.add(r.ints(n, 0, vocab).toArray());
            int[] from = {1, 2, 11, 5, 3};
            Perplexity ppl = new Perplexity(model, ExpertMask.NONE);
            List<Perplexity.Span> layerMajor = ppl.scoreAllFrom(seqs, from, LayerMajorListener.NONE);
            for (int s = 0; s < seqs.size(); s++) {
                int[] ids = seqs.get(s);
                Perplexity.Span expected = FormerSpan.of(model.forward(ids, model.newState(ids.length), true), ids, from[s]);
                assertEquals(expected, layerMajor.get(s), fixture + " layer-major sequence " + s);
                assertEquals(expected, ppl.scoreFrom(ids, from[s]), fixture + " document-major sequence " + s);
            }
        }
    }

    @Test
    void aScoresPassRefusesASinkForLogits() {
        try (Model model = Models.open(ConformanceTest.FIXTURES.resolve("qwen3_moe"))) {
            PrefillPass pass = new LayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES);
            assertThrows(IllegalArgumentException.class,
                    () -> pass.run(List.of(new int[]{1, 2, 3}), null, (s, l) -> { }, LayerMajorListener.NONE));
        }
    }
}
