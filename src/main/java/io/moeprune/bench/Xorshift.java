package io.moeprune.bench;

/**
 * The xorshift64 generator of {@link RandomMoeModel} (shifts 13, 7, 17) and its jump-ahead. A step is linear over
 * GF(2), so n steps are the step's 64×64 bit matrix to the n-th power, applied to the state: O(64² log n), which lets
 * each shard of a checkpoint start where one sequential generator would be and be written on its own thread.
 */
final class Xorshift {
    private Xorshift() {
    }

    /** One step, as {@code RandomMoeModel} takes it. */
    static long next(long x) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        return x;
    }

    /** The state after {@code steps} steps from {@code state}. */
    static long jump(long state, long steps) {
        long[] power = new long[64];           // column i: the image of bit i under one step
        for (int i = 0; i < 64; i++) power[i] = next(1L << i);
        long result = state;
        for (long n = steps; n > 0; n >>>= 1) {
            if ((n & 1) != 0) result = apply(power, result);
            power = compose(power, power);
        }
        return result;
    }

    private static long apply(long[] columns, long x) {
        long y = 0;
        for (int i = 0; i < 64; i++) if ((x >>> i & 1) != 0) y ^= columns[i];
        return y;
    }

    /** The columns of a∘b. */
    private static long[] compose(long[] a, long[] b) {
        long[] c = new long[64];
        for (int i = 0; i < 64; i++) c[i] = apply(a, b[i]);
        return c;
    }
}
