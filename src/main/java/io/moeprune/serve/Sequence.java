package io.moeprune.serve;

import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Sampler;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One request inside the {@link BatchScheduler}: what the request thread submitted, the scheduler's state for it
 * (its expert set, the last token; its KV cache is the {@link ServeBackend}'s), and the events it hands back to the request thread: each new token, then the end.
 */
final class Sequence {
    /** What the scheduler hands to the request thread. */
    sealed interface Event permits Token, End {
    }

    record Token(int id) implements Event {
    }

    /** The end: the pattern it ran with (null without a store), nanoseconds from admission, or the error. */
    record End(String task, long nanos, RuntimeException error) implements Event {
    }

    final int[] prompt;
    final String named;
    final int maxTokens;
    final Sampler sampler;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    // Owned by the scheduler thread.
    String task;
    ExpertMask mask;
    int last;
    int generated;
    long admitted;
    boolean ended;
    /** Whether its experts are pinned in the server's resident expert memory. */
    boolean pinned;

    Sequence(int[] prompt, String named, int maxTokens, Sampler sampler) {
        this.prompt = prompt;
        this.named = named;
        this.maxTokens = maxTokens;
        this.sampler = sampler;
    }

    /** Positions its KV cache holds: the prompt and every token it may generate. */
    int positions() {
        return prompt.length + maxTokens;
    }

    /** The request no longer wants tokens (its client went away, or a stop string ended it): its slot is freed. */
    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }

    void emit(Event e) {
        events.add(e);
    }

    /** The next event, waiting for it. */
    Event next() throws InterruptedException {
        return events.take();
    }
}
