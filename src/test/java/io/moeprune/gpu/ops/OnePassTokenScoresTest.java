package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code -Dmoeprune.tokenScores=one-pass} checked in CI without a GPU: the kernel token_scores_one_pass (kernels.cu)
 * emulated thread by thread in Java ({@link #emulate}: 256 threads, the same entries each, a running largest logit and
 * a double sum per thread rescaled when it rises, a float exp per entry, the block's combination) gives the flags and
 * hits of the reference arithmetic ({@link ScoreRows#expected}, what HostOps computes) exactly and its NLL within the
 * bound the CUDA kernels are held to against HostOps (1e-6 relative), on the vocabulary sizes of the fixtures and of
 * Qwen3 (151,936), divided or not, a vocabulary not a multiple of 4 read entry by entry. The kernel itself is checked
 * against HostOps on the GPU (TokenScoresCudaTest).
 */
class OnePassTokenScoresTest {
    private static final int THREADS = 256;   // CudaOps.THREADS: one block per row

    @Test
    void theOnePassArithmeticScoresAsTheReference() {
        for (int vocab : new int[]{1000, 1001, 32768, 151936}) {
            ScoreRows in = ScoreRows.random(vocab, 24, vocab);
            for (float divisor : new float[]{1f, 8f}) {
                ScoreRows.Expected want = in.expected(divisor), got = emulate(in, divisor);
                assertArrayEquals(want.flags(), got.flags(), "flags, vocab " + vocab);
                assertArrayEquals(want.hits(), got.hits(), "hits, vocab " + vocab);
                assertTrue(ScoreRows.count(got.hits()) > 0, "some hits");
                double err = 0;
                for (int r = 0; r < in.rows(); r++) {
                    err = Math.max(err, Math.abs(got.nll()[r] - want.nll()[r]) / Math.max(1, Math.abs(want.nll()[r])));
                }
                System.out.printf("one-pass emulated, 24x%d / %s: err %.2e (limit 1e-6)%n", vocab, divisor, err);
                assertTrue(err < 1e-6, "vocab " + vocab + " / " + divisor + ": " + err);
            }
        }
    }

    @Test
    void theSwitchTakesTwoPassOrOnePassAndOneLineForAnythingElse() {
        assertEquals(CudaOps.TokenScoresKernel.TWO_PASS, CudaOps.parseTokenScores("two-pass"));
        assertEquals(CudaOps.TokenScoresKernel.ONE_PASS, CudaOps.parseTokenScores(" one-pass"));
        for (String bad : new String[]{"onepass", "", "ONE-PASS"}) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> CudaOps.parseTokenScores(bad));
            assertEquals("-Dmoeprune.tokenScores=" + bad + ": not two-pass or one-pass", e.getMessage());
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        }
    }

    /** token_scores_one_pass's arithmetic, thread by thread, in Java (expf as the float rounding of exp). */
    static ScoreRows.Expected emulate(ScoreRows in, float divisor) {
        int vocab = in.vocab(), rows = in.rows();
        boolean divide = divisor != 1f && divisor != 0f, quads = vocab % 4 == 0;
        float[] nll = new float[rows];
        int[] hits = new int[rows], flags = new int[rows];
        for (int r = 0; r < rows; r++) {
            float[] m = new float[THREADS];
            int[] best = new int[THREADS], flag = new int[THREADS];
            double[] s = new double[THREADS];
            for (int t = 0; t < THREADS; t++) {
                m[t] = Float.NEGATIVE_INFINITY;
                best[t] = vocab;
                int step = quads ? 4 : 1;
                for (int j = t * step; j < vocab; j += THREADS * step) {
                    for (int i = j; i < j + step; i++) {
                        float raw = in.logits()[r * vocab + i], l = divide ? raw / divisor : raw;
                        if (!Float.isFinite(l)) {
                            flag[t] = Math.max(flag[t], 2 * (vocab - i) + (Float.isNaN(l) ? 1 : 0));
                        } else if (l > m[t]) {
                            s[t] = s[t] * Math.exp((double) m[t] - (double) l) + 1.0;
                            m[t] = l;
                            best[t] = i;
                        } else {
                            s[t] += (float) Math.exp((float) ((double) l - (double) m[t]));
                        }
                    }
                }
            }
            // block_argmax: the largest, the lowest index among equal ones, the larger flag.
            float top = Float.NEGATIVE_INFINITY;
            int at = vocab, f = 0;
            for (int t = 0; t < THREADS; t++) {
                if (m[t] > top || (m[t] == top && best[t] < at)) {
                    top = m[t];
                    at = best[t];
                }
                f = Math.max(f, flag[t]);
            }
            int target = in.targets()[r];
            flags[r] = f;
            if (f != 0 || target < 0) continue;
            double sum = 0;
            for (int t = 0; t < THREADS; t++) {
                sum += m[t] == Float.NEGATIVE_INFINITY ? 0 : s[t] * Math.exp((double) m[t] - (double) top);
            }
            float raw = in.logits()[r * vocab + target], lt = divide ? raw / divisor : raw;
            nll[r] = (float) (Math.log(sum) + (double) top - (double) lt);
            hits[r] = at == target ? 1 : 0;
        }
        return new ScoreRows.Expected(nll, hits, flags);
    }
}
