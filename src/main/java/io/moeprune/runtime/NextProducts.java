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
    private static final ThreadLocal<Parallel.NextCall> AFTER_ATTENTION = new ThreadLocal<>();
    private static final ThreadLocal<Parallel.NextCall> AFTER_FEED_FORWARD = new ThreadLocal<>();

    private NextProducts() {
    }

    static void afterAttention(Parallel.NextCall next) {
        AFTER_ATTENTION.set(next);
    }

    /** The product after this layer's attention, or null; cleared. */
    static Parallel.NextCall takeAfterAttention() {
        Parallel.NextCall next = AFTER_ATTENTION.get();
        if (next != null) AFTER_ATTENTION.remove();
        return next;
    }

    static void afterFeedForward(Parallel.NextCall next) {
        AFTER_FEED_FORWARD.set(next);
    }

    /** The product after this layer's feed-forward, or null; cleared. */
    static Parallel.NextCall takeAfterFeedForward() {
        Parallel.NextCall next = AFTER_FEED_FORWARD.get();
        if (next != null) AFTER_FEED_FORWARD.remove();
        return next;
    }
}
