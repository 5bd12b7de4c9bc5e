package io.moeprune.serve;

import io.moeprune.runtime.ExpertMask;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Continuous batching on one thread, the only one that runs the model: it admits waiting requests (pattern chosen,
 * experts brought in, cache made) while fewer than {@code maxBatch} are active, prefills the prompts admitted in one
 * turn together where they share an expert set and samples their first tokens, then runs one decode step for all
 * active sequences that route with the same expert set (mask or pattern), taking the groups in turn (round robin).
 * The model runs behind a {@link ServeBackend}: the CPU runtime's batched passes, or a GPU's decoder slots. Each new
 * token goes to its request's thread; a sequence retires at an end-of-sequence token, at its token limit, or when its
 * request cancels it (client gone, stop string), freeing its slot for the next step.
 */
final class BatchScheduler implements AutoCloseable {
    private final ServeBackend backend;
    private final ExpertRouting routing;
    private final Collection<Integer> eosIds;
    private final int maxBatch;
    private final LinkedBlockingQueue<Sequence> pending = new LinkedBlockingQueue<>();
    /** The request at the head of the line whose experts find no room until requests in flight end (null: none). */
    private Sequence waiting;
    private final List<Sequence> active = new ArrayList<>();
    /** Requests admitted this turn (experts pinned, cache made) whose prompts are not prefilled yet. */
    private final List<Sequence> admitted = new ArrayList<>();
    private final Thread thread;
    private volatile boolean accepting = true;
    private volatile boolean running = true;
    /** Requests submitted and not yet ended (pending or active): what a drain waits for. */
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private int turn;
    private final java.util.concurrent.atomic.LongAdder steps = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder sequenceSteps = new java.util.concurrent.atomic.LongAdder();

    /**
     * Decode steps run, and the sequences they advanced (their ratio is the mean batch size); requests submitted and
     * not ended yet.
     */
    record Counts(long steps, long sequences, int inFlight) {
    }

    BatchScheduler(ServeBackend backend, ExpertRouting routing, Collection<Integer> eosIds, int maxBatch) {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch " + maxBatch);
        this.backend = backend;
        this.routing = routing;
        this.eosIds = eosIds;
        this.maxBatch = maxBatch;
        this.thread = Thread.ofPlatform().name("moeprune-batch-scheduler").daemon().start(this::loop);
    }

    /** 503 once a drain has begun. */
    void requireAccepting() {
        if (!accepting) throw new ApiError(503, "server_error", null, "shutting_down", "the server is shutting down");
    }

    /** Queues a request; 503 once a drain has begun. */
    Sequence submit(Sequence s) {
        requireAccepting();
        inFlight.incrementAndGet();
        pending.add(s);
        return s;
    }

    Counts counts() {
        return new Counts(steps.sum(), sequenceSteps.sum(), inFlight.get());
    }

    /**
     * Refuses new requests and waits (at most {@code timeout}) until those submitted before have ended: what SIGTERM
     * does before the server stops. True when all ended in time.
     */
    boolean drain(Duration timeout) throws InterruptedException {
        accepting = false;
        long deadline = System.nanoTime() + timeout.toNanos();
        while (inFlight.get() > 0) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(10);
        }
        return true;
    }

    /**
     * Stops the scheduler thread and waits for it (at most a few seconds: a step in progress ends first), then frees
     * the backend's caches.
     */
    @Override
    public void close() {
        accepting = false;
        running = false;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!thread.isAlive()) backend.close();  // never under a step still running
    }

    private void loop() {
        try {
            while (running) {
                if (active.isEmpty() && waiting == null) {
                    Sequence s = pending.poll(200, TimeUnit.MILLISECONDS);
                    if (s != null) admit(s);
                }
                Sequence s;
                while (active.size() + admitted.size() < maxBatch && waiting == null && (s = pending.poll()) != null) {
                    admit(s);
                }
                if (waiting != null && active.size() + admitted.size() < maxBatch) {
                    s = waiting;
                    waiting = null;
                    admit(s);
                }
                prefillAdmitted();
                active.removeIf(q -> q.cancelled() && end(q, null));
                if (waiting != null && waiting.cancelled()) {  // its client left while it waited for room
                    end(waiting, null);
                    waiting = null;
                }
                if (!active.isEmpty()) step(nextGroup());
            }
        } catch (InterruptedException e) {
            // close(): the server stops.
        }
        for (Sequence s : admitted) end(s, new IllegalStateException("the server stopped"));
        for (Sequence s : active) end(s, new IllegalStateException("the server stopped"));
        if (waiting != null) end(waiting, new IllegalStateException("the server stopped"));
        for (Sequence s; (s = pending.poll()) != null; ) end(s, new IllegalStateException("the server stopped"));
    }

    /**
     * Chooses the pattern, brings its experts in and makes the sequence's cache: admitted, to be prefilled with the
     * others of this turn ({@link #prefillAdmitted}). A request whose experts or cache find no room (those of
     * requests in flight fill the budget or the device) waits at the head of the line.
     */
    private void admit(Sequence s) {
        if (s.mask == null) s.admitted = System.nanoTime();
        try {
            if (s.mask == null) {
                ExpertRouting.Choice choice = routing.choose(s.named, s.prompt);
                s.task = choice.task();
                s.mask = choice.mask();
            }
            ExpertMemory memory = routing.memory();
            if (memory != null && !s.pinned) {
                if (!memory.acquire(s.mask)) {
                    if (active.isEmpty() && admitted.isEmpty()) throw new IllegalStateException("the experts of pattern " + s.task
                            + " do not fit --expert-memory");
                    waiting = s;
                    return;
                }
                s.pinned = true;
            }
            if (!backend.open(s)) {  // no room for its cache until requests in flight end
                waiting = s;
                return;
            }
            if (s.cancelled()) {
                end(s, null);
                return;
            }
            admitted.add(s);
        } catch (RuntimeException e) {
            end(s, e);
        }
    }

    /**
     * Prefills the admitted prompts, those of one expert set in one pass (the experts read once for all of them),
     * and hands out each first token; active unless already done. Where a batch fails, its prompts are prefilled
     * again one by one, afresh, so that one bad prompt fails alone.
     */
    private void prefillAdmitted() {
        Map<ExpertMask, List<Sequence>> bySet = new LinkedHashMap<>();
        for (Sequence s : admitted) bySet.computeIfAbsent(s.mask, m -> new ArrayList<>()).add(s);
        admitted.clear();
        for (List<Sequence> group : bySet.values()) {
            if (group.size() > 1) {
                try {
                    float[][] logits = backend.prefill(group);
                    for (int i = 0; i < group.size(); i++) firstToken(group.get(i), logits[i]);
                    continue;
                } catch (RuntimeException e) {
                    for (Sequence s : group) backend.reset(s);
                }
            }
            for (Sequence s : group) {
                try {
                    firstToken(s, backend.prefill(List.of(s))[0]);
                } catch (RuntimeException e) {
                    end(s, e);
                }
            }
        }
    }

    private void firstToken(Sequence s, float[] logits) {
        if (!accept(s, s.sampler.next(logits))) active.add(s);
    }

    /** The active sequences of the next expert set in turn (sets in order of first appearance). */
    private List<Sequence> nextGroup() {
        List<ExpertMask> masks = new ArrayList<>(new LinkedHashSet<>(active.stream().map(q -> q.mask).toList()));
        ExpertMask mask = masks.get(Math.floorMod(turn++, masks.size()));
        return active.stream().filter(q -> q.mask == mask).toList();
    }

    /**
     * One decode step for the group (the backend runs a single sequence alone, several in one batched pass); where
     * every sequence of it samples greedily, the backend picks the tokens ({@link ServeBackend#decodeGreedy}: a GPU's
     * argmax on the device), else each sequence's sampler its own from the logits.
     */
    private void step(List<Sequence> group) {
        try {
            boolean greedy = group.stream().allMatch(q -> q.sampler.isGreedy());
            int[] picked = greedy ? backend.decodeGreedy(group) : null;
            float[][] logits = greedy ? null : backend.decode(group);
            steps.increment();
            sequenceSteps.add(group.size());
            for (int i = 0; i < group.size(); i++) {
                Sequence s = group.get(i);
                if (accept(s, greedy ? picked[i] : s.sampler.next(logits[i]))) active.remove(s);
            }
        } catch (RuntimeException e) {
            for (Sequence q : group) end(q, e);
            active.removeAll(group);
        }
    }

    /** Hands out the sequence's next token; true (and the sequence ended) when it was the last. */
    private boolean accept(Sequence s, int token) {
        s.last = token;
        s.generated++;
        s.emit(new Sequence.Token(token));
        boolean done = eosIds.contains(token) || s.generated >= s.maxTokens;
        if (done) end(s, null);
        return done;
    }

    /** Hands out the end, once (a failing step ends its whole group, some maybe just ended); true (for removeIf). */
    private boolean end(Sequence s, RuntimeException error) {
        if (s.ended) return true;
        s.ended = true;
        s.emit(new Sequence.End(s.task, System.nanoTime() - s.admitted, error));
        backend.release(s);  // the KV cache goes with the slot
        if (s.pinned) {
            routing.memory().release(s.mask);
            s.pinned = false;
        }
        inFlight.decrementAndGet();
        return true;
    }
}
