package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HostOps' greedyTokens (the reference the CUDA kernel greedy_tokens is checked against, CudaOpsTest): crafted rows
 * whose argmax is known (ties to the lowest index, a NaN before an infinity, −infinity, a divisor that makes two
 * logits equal), and ScoreRows' random rows (ties at 40) against TokenScores.argmax and the token scores' flags.
 */
class HostOpsGreedyTokensTest {
    private static final float NAN = Float.NaN, INF = Float.POSITIVE_INFINITY;

    /** ids and flags of {@code rows} rows of {@code logits} [rows, vocab]. */
    static int[][] greedy(HostOps ops, float[] logits, int rows, int vocab, float divisor) {
        try (Arena a = Arena.ofConfined()) {
            DeviceBuffer in = HostBuffers.upload(ops, a, logits), out = ops.alloc(8L * rows, "ids and flags");
            ops.greedyTokens(in, rows, vocab, divisor, out, new DeviceBuffer(out.address() + 4L * rows, 4L * rows));
            int[] got = HostBuffers.ints(ops, a, out, 2L * rows);
            ops.free(in);
            ops.free(out);
            return new int[][]{java.util.Arrays.copyOf(got, rows), java.util.Arrays.copyOfRange(got, rows, 2 * rows)};
        }
    }

    @Test
    void craftedRowsTakeTheLowestIndexOfTheLargestAndFlagTheFirstNonFinite() {
        float[] logits = {
                1, 5, 3, 5, 0,              // a tie: the lower index
                7, 7, 7, 7, 7,              // all equal: 0
                0, 1, NAN, INF, 9,          // the NaN first: flag 2·(5 − 2) + 1
                0, -INF, 1, 2, 3,           // −infinity: flag 2·(5 − 1)
                -3, -2, -1, -1, -2,         // negative, a tie
                -1e30f, -1e30f, -1e30f, -1e30f, 1e-30f};
        try (HostOps ops = new HostOps(1L << 20)) {
            int[][] got = greedy(ops, logits, 6, 5, 1f);
            assertArrayEquals(new int[]{1, 0, -1, -1, 2, 4}, got[0], "ids");
            assertArrayEquals(new int[]{0, 0, 7, 8, 0, 0}, got[1], "flags");
        }
    }

    /** The logits are divided before the argmax, as the CPU divides them: two that differ can then tie. */
    @Test
    void theDivisorComesFirstAndCanMakeATie() {
        float x = 1f;
        while (Math.nextUp(x) / 3f != x / 3f) x = Math.nextUp(x);   // two neighbours whose thirds round alike
        float[] logits = {x, Math.nextUp(x), 0f};
        try (HostOps ops = new HostOps(1L << 20)) {
            assertEquals(1, greedy(ops, logits, 1, 3, 1f)[0][0], "undivided: the larger");
            assertEquals(0, greedy(ops, logits, 1, 3, 3f)[0][0], "divided by 3: equal, the lower index");
            assertEquals(1, greedy(ops, logits, 1, 3, 0f)[0][0], "a divisor of 0 divides nothing");
            float[] overflow = {3e38f, 1f};
            int[][] got = greedy(ops, overflow, 1, 2, 0.5f);
            assertEquals(-1, got[0][0], "3e38 / 0.5 is infinite");
            assertEquals(2 * 2, got[1][0]);
        }
    }

    @Test
    void randomRowsEqualTheReference() {
        try (HostOps ops = new HostOps(1L << 28)) {
            for (int vocab : new int[]{1000, 1001, 5003}) {
                ScoreRows in = ScoreRows.random(vocab, 24, vocab);
                for (float divisor : new float[]{1f, 8f, 3f}) {
                    int[][] got = greedy(ops, in.logits(), in.rows(), vocab, divisor);
                    assertArrayEquals(in.greedyIds(divisor), got[0], "ids, vocab " + vocab + " / " + divisor);
                    assertArrayEquals(in.expected(divisor).flags(), got[1], "flags, vocab " + vocab + " / " + divisor);
                    assertEquals(-1, got[0][ScoreRows.NAN_ROW]);
                    assertEquals(2 * (vocab - 17) + 1, got[1][ScoreRows.NAN_ROW]);
                    for (int r = 0; r < in.rows(); r++) {
                        if (r % 3 == 0 && r % 5 != 2 && got[1][r] == 0) {
                            assertEquals(40f, in.logits()[r * vocab + got[0][r]], "row " + r + " takes a tied 40");
                        }
                    }
                    assertTrue(java.util.Arrays.stream(got[0]).filter(i -> i >= 0).count() >= in.rows() - 2);
                }
            }
        }
    }
}
