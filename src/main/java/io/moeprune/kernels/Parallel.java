package io.moeprune.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A small fork-join for the kernels: splits a range of independent items (matrix rows) over a fixed pool of
 * threads. A decode step makes hundreds of small kernel calls, so dispatch must be cheap: the pool is created
 * once, workers spin briefly on the job reference before parking, only as many workers as the work needs wake up,
 * a call allocates only its small job record (with one padded span of owned chunks per thread: 2 KB at 16 threads),
 * the caller waits for the chunks to be done (not for every worker to check in), and work below
 * {@link #MIN_WORK_PER_THREAD} per thread runs on the caller alone.
 *
 * <p>Each thread owns an even share of a call's chunks and claims it first ({@code KernelSwitches} OWNED_CHUNKS), and a
 * call may declare the one after it ({@link #readAheadFor}): threads with nothing left to do read their share of
 * that one into their caches while they wait.
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

    /** Reads, into the calling core's caches, what item {@code item} of a coming call will read. */
    @FunctionalInterface
    public interface ItemReader {
        /** Returns something computed from what it read, so that the reads cannot be dropped. */
        long read(int item);
    }

    /**
     * A call that will come next, as {@link #forRange} will be given it ({@code count} items of {@code workPerItem}),
     * and how to read an item of it ahead. See {@link #readAheadFor}.
     */
    public record NextCall(int count, long workPerItem, ItemReader reader) {
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
    /** What the next top-level call's idle threads read ahead ({@link #readAheadFor}). */
    private static volatile NextCall pendingNext;
    /** What reads ahead read, kept so that they are not dropped. */
    static volatile long readSink;
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
        static final Job NONE = new Job(null, 0, 1, 0, false, false, null);
        /** Longs between two parts' spans: each on a cache-line pair of its own (the adjacent-line prefetch). */
        private static final int PAD = 16;

        final RangeTask task;
        final int count;
        final int chunkSize;
        final int chunks;
        /** Workers with an index below this take part (the caller always does). */
        final int helpers;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        /**
         * Owned chunks, or null: part p (the caller 0, worker i part i + 1) owns chunks [p·chunks/parts,
         * (p+1)·chunks/parts) (or every parts-th from p: {@link #interleaved}), kept per part as (first unclaimed)
         * << 32 | (end), counted in the part's own chunks. The owner claims from the front, in order,
         * so that what it read ahead ({@link #readAheadFor}) comes first; a thread with none of its own left takes
         * other parts' chunks from the back.
         */
        final AtomicLongArray spans;
        /** Owned chunks are every parts-th chunk (part p: p, p + parts, …) rather than a run of them. */
        final boolean interleaved;
        /** What threads with no chunk left read ahead for the call after this one, or null. */
        final NextCall then;
        volatile Throwable failure;

        Job(RangeTask task, int count, int chunkSize, int helpers, boolean owned, boolean interleaved, NextCall then) {
            this.task = task;
            this.count = count;
            this.chunkSize = chunkSize;
            this.chunks = (count + chunkSize - 1) / chunkSize;
            this.helpers = helpers;
            this.then = then;
            this.interleaved = interleaved;
            int parts = helpers + 1;
            if (owned && parts > 1) {
                spans = new AtomicLongArray(parts * PAD);
                for (int p = 0; p < parts; p++) spans.set(p * PAD, ownedCount(chunks, parts, p, interleaved));
            } else {
                spans = null;
            }
        }

        /** Claims and runs chunks until none is left; after a failure the rest are claimed but not run. */
        void runChunks(int part) {
            int c;
            while ((c = claim(part)) >= 0) {
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

        /** The next chunk for this part, or -1 when none is left. */
        private int claim(int part) {
            if (spans == null) {
                int c = next.getAndIncrement();
                return c < chunks ? c : -1;
            }
            int parts = helpers + 1;
            for (int k = 0; k < parts; k++) {
                int q = part + k < parts ? part + k : part + k - parts, at = q * PAD;
                while (true) {
                    long s = spans.get(at);
                    int front = (int) (s >>> 32), end = (int) s;
                    if (front >= end) break;
                    if (k == 0 ? spans.compareAndSet(at, s, s + (1L << 32)) : spans.compareAndSet(at, s, s - 1)) {
                        return ownedChunk(chunks, parts, q, k == 0 ? front : end - 1, interleaved);
                    }
                }
            }
            return -1;
        }
    }

    /** The first of {@code count} things that part {@code part} of {@code parts} owns (an even split, in order). */
    static int ownedFrom(int count, int parts, int part) {
        return (int) ((long) count * part / parts);
    }

    /** How many of {@code chunks} part {@code part} of {@code parts} owns. */
    static int ownedCount(int chunks, int parts, int part, boolean interleaved) {
        return interleaved ? (chunks - part + parts - 1) / parts
                : ownedFrom(chunks, parts, part + 1) - ownedFrom(chunks, parts, part);
    }

    /** The chunk that is the {@code local}-th of those part {@code part} of {@code parts} owns. */
    static int ownedChunk(int chunks, int parts, int part, int local, boolean interleaved) {
        return interleaved ? local * parts + part : ownedFrom(chunks, parts, part) + local;
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
        Parallel p = pool;
        // Only a top-level call takes the read-ahead: calls nested in a running one run inline on their thread.
        NextCall then = null;
        if (pendingNext != null && !p.busy.get()) {
            then = pendingNext;
            pendingNext = null;
        }
        if (count <= 0) return;
        int parts = parts(p, count, workPerItem);
        boolean readAhead = then != null && p.threads > 1 && KernelSwitches.READ_AHEAD.getPlain();
        if ((parts <= 1 && !readAhead) || !p.busy.compareAndSet(false, true)) {
            task.run(0, count);
            return;
        }
        try {
            p.dispatch(count, parts, task, readAhead ? then : null);
        } finally {
            p.busy.set(false);
        }
    }

    /**
     * Declares the product that will follow the next call of {@link #forRange} from this thread: the threads that
     * run out of chunks in that call (or that it does not need) read their own share of {@code next} into their
     * caches until the next call comes, and that call gives each thread the share it read first. A decode step's
     * products are bound by memory while the threads wait at a join, run a small product or an attention: there
     * the memory sits idle. Takes effect with {@code KernelSwitches} READ_AHEAD and owned chunks on; a call of
     * another size than {@code next} says still runs correctly, only reading what another thread computes.
     */
    public static void readAheadFor(NextCall next) {
        pendingNext = next;
    }

    /** How many threads a call of {@code count} items of {@code workPerItem} takes part in, the caller included. */
    private static int parts(Parallel p, int count, long workPerItem) {
        long total = (long) count * Math.max(1, workPerItem);
        long minWork = KernelSwitches.MIN_WORK_PER_THREAD.getPlain();
        return (int) Math.min(Math.min(p.threads, count), Math.max(1, total / minWork));
    }

    /** Chunks of a call of {@code count} items in {@code parts} parts (each thread claims a chunk at a time). */
    private static int chunkSize(int count, int parts) {
        int perThread = KernelSwitches.CHUNKS_PER_THREAD.getPlain();  // chunks per taking-part thread (8)
        return Math.max(1, (count + parts * perThread - 1) / (parts * perThread));
    }

    private void dispatch(int count, int parts, RangeTask task, NextCall then) {
        boolean owned = KernelSwitches.OWNED_CHUNKS.getPlain();
        Job j = new Job(task, count, chunkSize(count, parts), parts - 1, owned,
                KernelSwitches.INTERLEAVED_CHUNKS.getPlain(), then);
        job = j;  // publishes the job to workers [0, parts - 1), and its read-ahead to all
        int woken = then != null ? workers.length : parts - 1;
        for (int i = 0; i < woken; i++) {
            if (workers[i].parked) LockSupport.unpark(workers[i].thread);
        }
        j.runChunks(0);
        // The caller reads its own share ahead until the others are done, then goes on: it ends at most one item
        // late, and what it read is read at most once.
        if (then != null && KernelSwitches.CALLER_READS_AHEAD.getPlain()) {
            try {
                readAhead(j, then, 0, true);
            } catch (RuntimeException e) {
                // As for the workers: a read ahead that fails changes nothing that is computed.
            }
        }
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

    /**
     * Reads part {@code part}'s share of {@code next} (the items its owned chunks will hold when that call comes,
     * in order) while {@code current} is still the latest job (a worker), or until its chunks are all done (the
     * caller).
     */
    private void readAhead(Job current, NextCall next, int part, boolean caller) {
        int parts = parts(this, next.count(), next.workPerItem());
        if (part >= parts) return;
        int size = chunkSize(next.count(), parts), chunks = (next.count() + size - 1) / size;
        boolean interleaved = KernelSwitches.INTERLEAVED_CHUNKS.getPlain();
        long sink = 0;
        for (int local = 0, owned = ownedCount(chunks, parts, part, interleaved); local < owned; local++) {
            int from = ownedChunk(chunks, parts, part, local, interleaved) * size, to = Math.min(next.count(), from + size);
            for (int item = from; item < to; item++) {
                if (caller ? current.done.get() == current.chunks : job != current) return;
                sink += next.reader().read(item);
            }
        }
        if (sink == 42) readSink = sink;
    }

    private void close() {
        // Wait for a running dispatch and keep the pool marked busy forever: late callers then run inline.
        while (!busy.compareAndSet(false, true)) Thread.onSpinWait();
        shutdown = true;
        job = new Job(null, 0, 1, 0, false, false, null);
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
                if (index < j.helpers) j.runChunks(index + 1);
                if (j.then != null) {
                    try {
                        readAhead(j, j.then, index + 1, false);
                    } catch (RuntimeException e) {
                        // Reads ahead only warm caches: a failing one (a stale declaration) must not end this worker.
                    }
                }
            }
        }
    }
}
