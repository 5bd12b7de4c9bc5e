package io.moeprune.gpu.runtime;

import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Takes the observers off the GPU pass's thread: the pass hands each sequence's trace over and goes on to the next
 * chunk or layer while a small pool of workers runs the observers ({@link MoeObserver#runsOffThread}; the others run
 * at once, on the caller's thread). Each sequence is a lane: its traces run one at a time, in the order handed over
 * (layer L's before layer L+1's); different sequences run in parallel. The traces waiting are bounded in bytes
 * ({@link #DEFAULT_BOUND}): handing one over blocks while the lanes are that far behind. The first exception an
 * observer throws is rethrown by the next {@link #hand} or by {@link #finish}, and the traces still waiting are then
 * dropped, as the pass would have stopped at it. A trace may be handed over before it is ready
 * ({@link PendingTrace}: its download still queued on the device); the worker resolves it, off the pass's thread.
 */
public final class ObserverWorkers implements AutoCloseable {
    /**
     * Bytes of traces that may wait for the workers: a layer's traces of 16,384 tokens with 64 experts top-8 take
     * about 6 MB (router logits, routing, norms, turns), so the workers may trail the pass by dozens of layers before
     * it waits for them, for little heap.
     */
    static final long DEFAULT_BOUND = 256L << 20;
    /**
     * {@code -Dmoeprune.observerThreads=N} sets the workers of {@link #ObserverWorkers()}; 0 keeps every observer on
     * the pass's thread (an A/B of the workers on the GPU machine).
     */
    public static final String THREADS_PROPERTY = "moeprune.observerThreads";
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final int permits;
    private final Semaphore room;
    private final int threads;
    private final Map<Integer, Lane> lanes = new HashMap<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private ExecutorService pool;   // started with the first trace that goes to a worker

    /** @param bound bytes of traces that may wait; @param threads the most observers running at once (0: none, every
     *  observer runs on the caller's thread) */
    public ObserverWorkers(long bound, int threads) {
        this.permits = (int) Math.max(1, Math.min(Integer.MAX_VALUE, bound >> 10));   // permits of 1 KiB
        this.room = new Semaphore(permits);
        this.threads = threads;
    }

    /**
     * Within {@link #DEFAULT_BOUND}, a worker per two cores (the pass's thread routes on the host meanwhile), 1 to 8,
     * unless {@link #THREADS_PROPERTY} says otherwise.
     */
    public ObserverWorkers() {
        this(DEFAULT_BOUND, Integer.getInteger(THREADS_PROPERTY,
                Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors() / 2))));
    }

    /**
     * Gives {@code observer} the trace of {@code sequence}: on a worker if it runs off the thread, else now. Rethrows
     * an earlier observer's exception.
     */
    public void hand(int sequence, MoeObserver observer, MoeTrace trace) {
        hand(sequence, observer, new PendingTrace() {
            @Override
            public long bytes() {
                return ObserverWorkers.bytes(trace);
            }

            @Override
            public MoeTrace trace() {
                return trace;
            }
        });
    }

    /**
     * Gives {@code observer} the trace {@code pending} resolves to, as {@link #hand(int, MoeObserver, MoeTrace)}: it
     * is resolved (waiting, say, for its download) on the worker, or here for an observer that runs on this thread,
     * and released once observed, or dropped (also when this call throws).
     */
    public void hand(int sequence, MoeObserver observer, PendingTrace pending) {
        boolean handed = false;
        try {
            rethrow();
            if (threads <= 0 || !observer.runsOffThread()) {
                observer.onMoeBlock(pending.trace());
                return;
            }
            int cost = (int) Math.min(permits, Math.max(1, pending.bytes() >> 10));
            room.acquireUninterruptibly(cost);
            lane(sequence).add(new Call(observer, pending, cost));
            handed = true;
        } finally {
            if (!handed) pending.release();
        }
        rethrow();
    }

    /** A trace that may not be ready yet (its copies still queued on the device). */
    public interface PendingTrace {
        /** What the trace will hold, in bytes ({@link ObserverWorkers#bytes}), before it is resolved. */
        long bytes();

        /** The trace, once ready (may wait for it). */
        MoeTrace trace();

        /** Called once, after the trace was observed or dropped. */
        default void release() {
        }
    }

    /** Waits until every trace handed over has been observed; rethrows the first observer's exception. */
    public void finish() {
        drain();
        rethrow();
    }

    /**
     * Drops what still waits (after {@link #finish} nothing does: here the pass or an observer failed), waits for the
     * calls running, and stops the workers; never throws an observer's exception.
     */
    @Override
    public void close() {
        failure.compareAndSet(null, Closed.INSTANCE);   // whatever still waits is dropped: the pass is over
        drain();
        if (pool != null) pool.shutdown();
    }

    /** All permits back: no trace waits or runs. */
    private void drain() {
        room.acquireUninterruptibly(permits);
        room.release(permits);
    }

    private void rethrow() {
        Throwable t = failure.get();
        if (t == null || t == Closed.INSTANCE) return;
        switch (t) {
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException("MoE observer failed", t);
        }
    }

    private Lane lane(int sequence) {
        if (pool == null) {
            int id = POOLS.incrementAndGet();
            AtomicInteger n = new AtomicInteger();
            pool = Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "moe-observers-" + id + "-" + n.incrementAndGet());
                t.setDaemon(true);   // an abandoned pass does not keep the JVM alive
                return t;
            });
        }
        return lanes.computeIfAbsent(sequence, s -> new Lane());
    }

    /** What a trace holds, in bytes (what it keeps on the heap while it waits). */
    public static long bytes(MoeTrace t) {
        long floats = length(t.positions()) + length(t.residualIn()) + length(t.routerLogits()) + length(t.chosen())
                + length(t.weights()) + length(t.expertOutputs()) + length(t.routed()) + length(t.shared())
                + length(t.output()) + length(t.slotNorms()) + length(t.turns());
        return 4 * floats;
    }

    private static long length(Object array) {
        return switch (array) {
            case null -> 0;
            case float[] f -> f.length;
            case int[] i -> i.length;
            default -> throw new IllegalArgumentException(array.getClass().getName());
        };
    }

    private record Call(MoeObserver observer, PendingTrace pending, int cost) {
    }

    /** One sequence's calls, run one at a time on the pool (scheduled while it has any). */
    private final class Lane implements Runnable {
        private final ArrayDeque<Call> waiting = new ArrayDeque<>();
        private boolean scheduled;

        synchronized void add(Call c) {
            waiting.add(c);
            if (!scheduled) {
                scheduled = true;
                pool.execute(this);
            }
        }

        @Override
        public void run() {
            while (true) {
                Call c;
                synchronized (this) {
                    c = waiting.poll();
                    if (c == null) {
                        scheduled = false;
                        return;
                    }
                }
                try {
                    if (failure.get() == null) c.observer().onMoeBlock(c.pending().trace());
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    try {
                        c.pending().release();
                    } finally {
                        room.release(c.cost());
                    }
                }
            }
        }
    }

    /** The failure slot's mark of a closed pass (nothing to rethrow; later calls are dropped). */
    private static final class Closed extends Throwable {
        static final Closed INSTANCE = new Closed();

        private Closed() {
            super("closed", null, false, false);
        }
    }
}
