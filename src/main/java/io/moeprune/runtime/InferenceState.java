package io.moeprune.runtime;

/**
 * One sequence being processed: its KV cache, how many positions it holds, and the options (mask, observer) its
 * forward passes run with. Many states can share one {@link Model}.
 */
public final class InferenceState {
    private final KvCache cache;
    private int position;
    private ForwardContext context = ForwardContext.PLAIN;

    InferenceState(KvCache cache) {
        this.cache = cache;
    }

    public KvCache cache() {
        return cache;
    }

    /** Positions already in the cache (the position of the next token). */
    public int position() {
        return position;
    }

    void advance(int n) {
        position += n;
    }

    /** Forgets the sequence (the cache is overwritten from position 0). */
    public void reset() {
        position = 0;
    }

    public ForwardContext context() {
        return context;
    }

    public InferenceState withMask(ExpertMask mask) {
        context = new ForwardContext(mask == null ? ExpertMask.NONE : mask, context.observer());
        return this;
    }

    public InferenceState withObserver(MoeObserver observer) {
        context = new ForwardContext(context.mask(), observer);
        return this;
    }
}
