package io.moeprune.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A small fork-join for the kernels: splits a range of independent items (matrix rows) over a fixed pool of
 * threads. A decode step makes hundreds of small kernel calls, so dispatch must be cheap: the pool is created
 * once, workers spin briefly on the job reference before parking, only as many workers as the work needs wake up,
 * a call allocates only its small job record, the caller waits for the chunks to be done (not for every worker to
 * check in), and work below {@link #MIN_WORK_PER_THREAD} per thread runs on the caller alone.
 *
 * <p>The thread count comes from {@link #setThreads(int)} (the CLI's {@code --threads}), else the system property
 * {@code moeprune.threads}, else the number of available processors. The calling thread is one of them, so
 * {@code threads = 1} means no pool at all.
 *
 * <p>One dispatch at a time: a call made while another is running (from a worker, or from a second caller
 * thread) simply runs inline on its caller, so nesting cannot deadlock.
 */
public final class Parallel {

    /** A slice [from, to) of the items of one call. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    /**
     * Below this much work per thread (in weight bytes, or the caller's unit for {@link #forRange}) splitting
     * costs more than it saves: a wake-up and join costs a few microseconds ({@code -Dmoeprune.minWorkPerThread}).
     */
    public static final long MIN_WORK_PER_THREAD = Math.max(1, Long.getLong("moeprune.minWorkPerThread", 1L << 17));

    /**
     * How long an idle worker spins before parking: long enough to bridge the gaps within a decode step
     * ({@code -Dmoeprune.spinMicros}).
     */
    private static final long SPIN_NANOS = 1000L * Long.getLong("moeprune.spinMicros", 50);

    private static final Object CONFIG_LOCK = new Object();
    private static volatile Parallel pool = new Parallel(defaultThreads());

    private final int threads;
    private final Worker[] workers;
    private final AtomicBoolean busy = new AtomicBoolean();
    /** The latest job; workers spin on this reference changing. */
    private volatile Job job = Job.NONE;
    private volatile boolean shutdown;

    /**
     * One call's work, split in chunks that any thread taking part claims in turn. The caller waits for the chunks
     * to be done, not for the workers to check in: a worker the OS has not scheduled yet (or that wakes from
     * parking late) holds nobody up, unless it has claimed a chunk. A worker that sees a job late finds its chunks
     * all claimed and goes back to waiting.
     */
    private static final class Job {
        static final Job NONE = new Job(null, 0, 1, 0);

        final RangeTask task;
        final int count;
        final int chunkSize;
        final int chunks;
        /** Workers with an index below this take part (the caller always does). */
        final int helpers;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(RangeTask task, int count, int chunkSize, int helpers) {
            this.task = task;
            this.count = count;
            this.chunkSize = chunkSize;
            this.chunks = (count + chunkSize - 1) / chunkSize;
            this.helpers = helpers;
        }

        /** Claims and runs chunks until none is left; after a failure the rest are claimed but not run. */
        void runChunks() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    if (failure == null) {
                        int from = c * chunkSize;
                        task.run(from, Math.min(count, from + chunkSize));
                    }
                } catch (Throwable e) {
                    failure = e;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private Parallel(int threads) {
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i);
            workers[i].thread.start();
        }
    }

    private static int defaultThreads() {
        String p = System.getProperty("moeprune.threads");
        if (p != null && !p.isBlank()) {
            try {
                int n = Integer.parseInt(p.trim());
                if (n >= 1) return n;
            } catch (NumberFormatException ignored) {
                // fall through to the processor count
            }
        }
        return Runtime.getRuntime().availableProcessors();
    }

    /** Sets the number of threads the kernels use (≥ 1, the caller included); replaces the pool. */
    public static void setThreads(int n) {
        if (n < 1 || n > 4096) throw new IllegalArgumentException("threads must be 1..4096, got " + n);
        synchronized (CONFIG_LOCK) {
            Parallel old = pool;
            if (old.threads == n) return;
            pool = new Parallel(n);
            old.close();
        }
    }

    /** The number of threads the kernels use, the caller included. */
    public static int threads() {
        return pool.threads;
    }

    /**
     * Runs {@code task} over [0, count), split across the pool when {@code count·workPerItem} is large enough.
     * Returns when every item is done; a failure in any slice is rethrown here.
     */
    public static void forRange(int count, long workPerItem, RangeTask task) {
        if (count <= 0) return;
        Parallel p = pool;
        long total = (long) count * Math.max(1, workPerItem);
        long minWork = KernelSwitches.MIN_WORK_PER_THREAD.getPlain();
        int parts = (int) Math.min(Math.min(p.threads, count), Math.max(1, total / minWork));
        if (parts <= 1 || !p.busy.compareAndSet(false, true)) {
            task.run(0, count);
            return;
        }
        try {
            p.dispatch(count, parts, task);
        } finally {
            p.busy.set(false);
        }
    }

    private void dispatch(int count, int parts, RangeTask task) {
        int perThread = KernelSwitches.CHUNKS_PER_THREAD.getPlain();  // chunks per taking-part thread (8)
        int perChunk = Math.max(1, (count + parts * perThread - 1) / (parts * perThread));
        Job j = new Job(task, count, perChunk, parts - 1);
        job = j;  // publishes the job to workers [0, parts - 1)
        for (int i = 0; i < parts - 1; i++) {
            if (workers[i].parked) LockSupport.unpark(workers[i].thread);
        }
        j.runChunks();
        int spins = 0;
        while (j.done.get() != j.chunks) {
            if (++spins < 10_000) Thread.onSpinWait();
            else Thread.yield();
        }
        Throwable f = j.failure;
        if (f != null) {
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
            throw new IllegalStateException(f);
        }
    }

    private void close() {
        // Wait for a running dispatch and keep the pool marked busy forever: late callers then run inline.
        while (!busy.compareAndSet(false, true)) Thread.onSpinWait();
        shutdown = true;
        job = new Job(null, 0, 1, 0);
        for (Worker w : workers) LockSupport.unpark(w.thread);
    }

    private final class Worker implements Runnable {
        final Thread thread;
        final int index;
        volatile boolean parked;

        Worker(int index) {
            this.index = index;
            thread = new Thread(this, "moeprune-kernel-" + (index + 1));
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            Job seen = Job.NONE;  // a job may be published before this thread starts: it is then not NONE
            while (true) {
                long start = System.nanoTime();
                int spins = 0;
                Job j;
                while ((j = job) == seen) {
                    if ((++spins & 0xff) != 0 || System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        parked = true;
                        if (job == seen) LockSupport.park(this);
                        parked = false;
                    }
                }
                seen = j;
                if (shutdown) return;
                if (index < j.helpers) j.runChunks();
            }
        }
    }
}
