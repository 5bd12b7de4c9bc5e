package io.moeprune.serve;

import io.moeprune.runtime.Sampler;

import java.util.List;

/**
 * Where the scheduler's sequences run: their KV caches, prefills and decode steps. {@link BatchScheduler} calls it
 * from its one thread, the only one that runs the model; choosing experts, sampling, stopping and streaming stay with
 * the scheduler, the same on every device. The CPU runtime's is {@link CpuBackend}, a GPU's {@link GpuBackend}. A
 * group is sequences of one expert set (the same mask or pattern), as the scheduler forms them.
 */
interface ServeBackend extends AutoCloseable {
    /**
     * Makes the sequence's cache, of {@link Sequence#positions()} positions, running with its mask; false when there is
     * no room for it until sequences open now are released (the scheduler lets it wait). Throws where it could not
     * have room even alone.
     */
    boolean open(Sequence s);

    /**
     * Runs the prompts of a group of opened sequences; each one's last position's logits, in the group's order. After a
     * failure their caches are to be {@link #reset} before they are prefilled again.
     */
    float[][] prefill(List<Sequence> group);

    /** Empties the sequence's cache: its next prefill starts again at position 0. */
    void reset(Sequence s);

    /** One decode step of a group (each sequence's last token); their logits in the group's order. */
    float[][] decode(List<Sequence> group);

    /**
     * One decode step of a group whose sequences all sample greedily: their next tokens (each the argmax of its
     * logits, {@link Sampler#argmax}) in the group's order. A backend that picks them where the logits are (a GPU's)
     * overrides this and never brings the logits to the host.
     */
    default int[] decodeGreedy(List<Sequence> group) {
        float[][] logits = decode(group);
        int[] tokens = new int[logits.length];
        for (int i = 0; i < tokens.length; i++) tokens[i] = Sampler.argmax(logits[i], 0, logits[i].length);
        return tokens;
    }

    /** Frees the sequence's cache (it ended); nothing for a sequence never opened or released already. */
    void release(Sequence s);

    /** Frees every cache; called once the scheduler thread has stopped. */
    @Override
    void close();
}
