package io.moeprune.gpu.runtime;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The host threads that stage a layer's weights from the mapped checkpoint into pinned memory
 * ({@link SlotLayout#stagingTasks}): one thread copies at about 3 GB/s, less than the bus takes, so a layer's regions
 * (and ranges of its large ones) are written by several; a streamed pass's embeddings too, a sequence a task
 * ({@link Residuals#fill}). {@code -Dmoeprune.stagingThreads=N} sets how many (default
 * min(8, cores/2), at least 1; 1 stages on the calling thread).
 */
final class StagingPool implements AutoCloseable {
    /** A region larger than this is split into ranges of about this size. */
    static final long PIECE_BYTES = 8L << 20;

    private final int threads;
    private final long pieceBytes;
    private final ExecutorService pool;

    StagingPool() {
        this(Integer.getInteger("moeprune.stagingThreads",
                Math.min(8, Runtime.getRuntime().availableProcessors() / 2)));
    }

    StagingPool(int threads) {
        this(threads, PIECE_BYTES);
    }

    /** {@code pieceBytes}: how large a range of a region one task writes (tests split small layouts). */
    StagingPool(int threads, long pieceBytes) {
        this.threads = Math.max(1, threads);
        this.pieceBytes = pieceBytes;
        this.pool = this.threads == 1 ? null : Executors.newFixedThreadPool(this.threads, r -> {
            Thread t = new Thread(r, "moeprune-gpu-staging-pool");
            t.setDaemon(true);
            return t;
        });
    }

    int threads() {
        return threads;
    }

    /**
     * Writes {@code layout}'s staging copy into {@code staging} ({@link SlotLayout#stage}'s bytes), returning when
     * every piece is written; the first piece's failure (a mapped read's InternalError included) is rethrown as it was.
     */
    void stage(SlotLayout layout, MemorySegment staging) {
        run(layout.stagingTasks(staging, pieceBytes));
    }

    /**
     * Runs {@code tasks} on the pool's threads (on the calling thread with one thread, or one task), returning when
     * every one has ended; the first task's failure in the list's order is rethrown as it was.
     */
    void run(List<Runnable> tasks) {
        if (pool == null || tasks.size() == 1) {
            for (Runnable t : tasks) t.run();
            return;
        }
        List<Future<?>> running = new ArrayList<>(tasks.size());
        for (Runnable t : tasks) running.add(pool.submit(t));
        Throwable failed = null;
        for (Future<?> f : running) {   // every piece ends before the staging buffer is handed on, failed or not
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failed == null) failed = e.getCause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failed == null) failed = e;
            }
        }
        if (failed instanceof RuntimeException r) throw r;
        if (failed instanceof Error err) throw err;
        if (failed != null) throw new IllegalStateException("staging interrupted", failed);
    }

    @Override
    public void close() {
        if (pool == null) return;
        pool.shutdown();
        try {
            if (!pool.awaitTermination(10, TimeUnit.MINUTES)) throw new IllegalStateException("staging did not end");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
