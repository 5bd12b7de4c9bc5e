package io.moeprune.runtime;

import io.moeprune.kernels.Parallel;

/**
 * The products a decode step runs after the current layer's attention (the feed-forward's first) and after its
 * feed-forward (the next layer's q/k/v, or the LM head), set by {@link Model#forward} for the last parallel call of
 * each half to declare, so that threads waiting at its end read their share of what follows ahead
 * ({@link Parallel#readAheadFor}). Kept per calling thread: they only tell the pool what to read, never what to
 * compute, so a stale one costs time, not correctness.
 */
final class NextProducts {
    private static final int AFTER_ATTENTION = 0, AFTER_FEED_FORWARD = 1;
    private static final ThreadLocal<Parallel.NextCall[]> NEXT = ThreadLocal.withInitial(() -> new Parallel.NextCall[2]);

    private NextProducts() {
    }

    static void afterAttention(Parallel.NextCall next) {
        NEXT.get()[AFTER_ATTENTION] = next;
    }

    /** The product after this layer's attention, or null; cleared. */
    static Parallel.NextCall takeAfterAttention() {
        return take(AFTER_ATTENTION);
    }

    static void afterFeedForward(Parallel.NextCall next) {
        NEXT.get()[AFTER_FEED_FORWARD] = next;
    }

    /** The product after this layer's feed-forward, or null; cleared. */
    static Parallel.NextCall takeAfterFeedForward() {
        return take(AFTER_FEED_FORWARD);
    }

    private static Parallel.NextCall take(int slot) {
        Parallel.NextCall[] slots = NEXT.get();
        Parallel.NextCall next = slots[slot];
        slots[slot] = null;
        return next;
    }
}
