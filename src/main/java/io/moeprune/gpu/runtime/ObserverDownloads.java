package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.MoeTrace;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the observers of a chunk's MoE block see, downloaded without stopping the pass (issue 22): the residual
 * entering the block (when an observer reads it), the router logits, the routing's ids and weights, ‖e‖ per slot and
 * the turns, each queued as a device→pinned-host copy into one pinned region of the chunk-layer, behind one fence.
 * Where they run is {@link ObserverDownloadMode}'s: by default on the download stream, behind a compute fence taken
 * after the kernels that wrote them, the compute stream waiting for their fence before the next router overwrites the
 * buffers ({@link ChunkBuffers#beforeRouterOverwrites}); else on the compute stream, in stream order. The pass goes
 * on; the worker that builds a sequence's trace ({@link Chunk#trace}) waits for the fence first, and the region comes
 * back for a later chunk-layer once every sequence of the chunk has been traced ({@link Chunk#release}).
 *
 * <p>At most {@link #REGIONS} regions are held (pinned host memory, not counted against --gpu-memory, bounded here
 * instead: {@link #pinnedBytes}); when the workers hold every one, the pass waits until one comes back. Closing
 * releases every region, held or not (after the workers: nothing reads them any more).
 */
final class ObserverDownloads implements AutoCloseable {
    /**
     * Regions in flight: at 16,384 tokens × 64 experts top-8 one takes about 6 MB (22 MB with the residual), so 8 let
     * the workers trail the pass by a few layers for tens of MB of pinned memory.
     */
    static final int REGIONS = 8;
    private final DeviceOps ops;
    private final ObserverDownloadMode mode;
    private final int regions;
    private final int chunkTokens;
    private final LinkedBlockingQueue<MemorySegment> free = new LinkedBlockingQueue<>();
    private final List<MemorySegment> held = new ArrayList<>();   // every region allocated and not yet released
    private boolean closed;
    private long waitedNanos;   // the pass's thread only

    /**
     * @param chunkTokens the most tokens of a chunk (regions are sized for it, so a shorter chunk reuses them)
     * @param mode        where the copies run
     */
    ObserverDownloads(DeviceOps ops, int chunkTokens, ObserverDownloadMode mode) {
        this(ops, chunkTokens, REGIONS, mode);
    }

    /** @param regions the most pinned regions held at once (at least 1) */
    ObserverDownloads(DeviceOps ops, int chunkTokens, int regions, ObserverDownloadMode mode) {
        if (regions < 1) throw new IllegalArgumentException("regions " + regions);
        this.ops = ops;
        this.mode = mode;
        this.chunkTokens = chunkTokens;
        this.regions = regions;
    }

    /** The bytes of a chunk-layer's copies of {@code tokens} tokens. */
    private static long bytes(int tokens, int hidden, int experts, int topK, boolean residual, boolean idsAndWeights) {
        return 4L * tokens * ((residual ? hidden : 0) + experts + (idsAndWeights ? 3 : 1) * topK + 1);
    }

    /**
     * Queues the copies of a chunk's watched MoE block and records their fence; {@code sequences} traces will be built
     * from it ({@link Chunk#release} after each). {@code routing}'s ids and weights, when routed on the host, are not
     * copied: they are on the host already.
     */
    Chunk queue(ChunkBuffers b, DeviceBuffer x, ChunkRouting.Routed routing, LayerPlan.Moe m, int layer, int tokens,
                int hidden, boolean residual, int sequences) {
        return queue(start(x, routing, m, tokens, hidden, residual), b, layer, sequences);
    }

    /**
     * A chunk-layer's region, where the copies of a watched MoE block of {@code tokens} tokens go, and their offsets
     * in bytes (residualAt −1 when the residual is not copied); {@code routing} as {@link #queue}'s.
     */
    record Started(MemorySegment region, ChunkRouting.Routed routing, LayerPlan.Moe m, int tokens, int hidden,
                   long residualAt, long logitsAt, long idsAt, long weightsAt, long normsAt, long turnsAt) {
    }

    /**
     * The first part of {@link #queue}: takes the chunk-layer's region and queues the copy of the residual entering
     * the block (x [n, H]) when {@code residual}, before a kernel that adds into x (the fused epilogue) is queued.
     */
    Started start(DeviceBuffer x, ChunkRouting.Routed routing, LayerPlan.Moe m, int tokens, int hidden,
                  boolean residual) {
        int e = m.numExperts(), k = m.topK(), slots = tokens * k;
        boolean idsAndWeights = routing.onHost() == null;
        long residualAt = 0, logitsAt = residualAt + (residual ? 4L * tokens * hidden : 0),
                idsAt = logitsAt + 4L * tokens * e, weightsAt = idsAt + (idsAndWeights ? 4L * slots : 0),
                normsAt = weightsAt + (idsAndWeights ? 4L * slots : 0), turnsAt = normsAt + 4L * slots;
        MemorySegment region = take(bytes(tokens, hidden, e, k, residual, idsAndWeights),
                bytes(Math.max(tokens, chunkTokens), hidden, e, k, residual, idsAndWeights));
        if (residual) ops.downloadQueued(x, 0, region.asSlice(residualAt, 4L * tokens * hidden));
        return new Started(region, routing, m, tokens, hidden, residual ? residualAt : -1, logitsAt, idsAt, weightsAt,
                normsAt, turnsAt);
    }

    /**
     * The rest of {@link #queue} after {@link #start}, once the kernels that write them are queued: the router logits,
     * the ids and weights (routed on the device), the slot norms and the turns, behind one fence.
     *
     * <p>On the download stream, nothing races: (1) the download stream waits for a compute fence recorded here,
     * after every kernel that wrote these buffers (and after the residual's copy, queued on the compute stream before
     * the epilogue added into x), so each copy reads the bytes the observers must see and the chunk's fence covers
     * the residual's copy too; (2) the compute stream waits for the copies' fence before the first operation that
     * overwrites any of these buffers, the next MoE block's router ({@link ChunkBuffers#beforeRouterOverwrites}); (3)
     * the host reads the region only after the fence ({@link Chunk#trace}), and the region is reused only after every
     * trace of the chunk has read it. The fences are CUDA events (cudaEventRecord, cudaStreamWaitEvent; a wait takes
     * the event as recorded when it is queued, so it is only on work queued before it: no cycle; a download fence
     * goes back to CudaOps' pool only at the run's synchronize, so the router's wait is for these copies and nothing
     * else, though a worker saw the fence pass before).
     */
    Chunk queue(Started s, ChunkBuffers b, int layer, int sequences) {
        int e = s.m().numExperts(), k = s.m().topK(), tokens = s.tokens(), slots = tokens * k;
        HostRouting onHost = s.routing().onHost();
        MemorySegment region = s.region();
        boolean ownStream = mode == ObserverDownloadMode.DOWNLOAD_STREAM;
        if (ownStream) ops.downloadWaits(ops.computeFence());
        copy(ownStream, b.routerLogits, region.asSlice(s.logitsAt(), 4L * tokens * e));
        if (onHost == null) {
            copy(ownStream, b.routeIds, region.asSlice(s.idsAt(), 4L * slots));
            copy(ownStream, b.slotWeight, region.asSlice(s.weightsAt(), 4L * slots));
        }
        copy(ownStream, b.slotNorms, region.asSlice(s.normsAt(), 4L * slots));
        copy(ownStream, b.turns, region.asSlice(s.turnsAt(), 4L * tokens));
        long fence = ownStream ? ops.downloadFence() : ops.computeFence();
        if (ownStream) b.downloadsQueued(fence);
        Chunk queued = new Chunk(region, fence, layer, s.hidden(), e, k, s.residualAt(), s.logitsAt(), s.idsAt(),
                s.weightsAt(), s.normsAt(), s.turnsAt(), onHost, sequences);
        if (mode == ObserverDownloadMode.WAITED) queued.awaitCopies();
        return queued;
    }

    /** One buffer's bytes into the region: on the download stream when {@code ownStream}, else the compute stream. */
    private void copy(boolean ownStream, DeviceBuffer src, MemorySegment into) {
        if (ownStream) ops.downloadOnDownloadStream(src, 0, into);
        else ops.downloadQueued(src, 0, into);
    }

    /** The pass's wall waiting for a region the workers held, so far. */
    long waitedNanos() {
        return waitedNanos;
    }

    /** Pinned bytes held now (regions in use or free for reuse). */
    synchronized long pinnedBytes() {
        long bytes = 0;
        for (MemorySegment r : held) bytes += r.byteSize();
        return bytes;
    }

    /**
     * A region of at least {@code bytes}: a free one (grown to {@code size}, a chunk's longest, when too small), a new
     * one of {@code size} while fewer than {@link #REGIONS} are held, else the first a worker gives back.
     */
    private MemorySegment take(long bytes, long size) {
        MemorySegment r = free.poll();
        if (r == null) {
            synchronized (this) {
                if (held.size() < regions) return allocate(size);
            }
            long from = System.nanoTime();
            try {
                r = free.take();
                waitedNanos += System.nanoTime() - from;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for the observers' workers", e);
            }
        }
        if (r.byteSize() >= bytes) return r;
        synchronized (this) {
            held.remove(r);
            ops.releasePinned(r);   // its copies have landed: a worker gave it back after the fence
            return allocate(size);
        }
    }

    private MemorySegment allocate(long bytes) {
        MemorySegment r = ops.pinnedHost(bytes);
        held.add(r);
        return r;
    }

    private void giveBack(MemorySegment region) {
        synchronized (this) {
            if (closed) return;
        }
        free.add(region);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        free.clear();
        for (MemorySegment r : held) ops.releasePinned(r);
        held.clear();
    }

    /**
     * One chunk-layer's queued copies (offsets in bytes into its region; residualAt −1 when not copied). Shared by the
     * traces of its sequences; the first to need the data waits for the fence.
     */
    final class Chunk {
        private final MemorySegment region;
        private final long fence;
        private final int layer, hidden, experts, topK;
        private final long residualAt, logitsAt, idsAt, weightsAt, normsAt, turnsAt;
        private final HostRouting onHost;
        private final AtomicInteger holders;
        private volatile boolean landed;

        private Chunk(MemorySegment region, long fence, int layer, int hidden, int experts, int topK, long residualAt,
                      long logitsAt, long idsAt, long weightsAt, long normsAt, long turnsAt, HostRouting onHost,
                      int sequences) {
            this.region = region;
            this.fence = fence;
            this.layer = layer;
            this.hidden = hidden;
            this.experts = experts;
            this.topK = topK;
            this.residualAt = residualAt;
            this.logitsAt = logitsAt;
            this.idsAt = idsAt;
            this.weightsAt = weightsAt;
            this.normsAt = normsAt;
            this.turnsAt = turnsAt;
            this.onHost = onHost;
            this.holders = new AtomicInteger(sequences);
        }

        /**
         * The trace of tokens [from, to) (one sequence's batch) for {@link ObserverWorkers}: built where it is
         * observed, after the fence; the chunk's region is given back after its last sequence's.
         */
        ObserverWorkers.PendingTrace sequence(int from, int to) {
            return new ObserverWorkers.PendingTrace() {
                @Override
                public long bytes() {
                    return traceBytes(from, to);
                }

                @Override
                public MoeTrace trace() {
                    return Chunk.this.trace(from, to);
                }

                @Override
                public void release() {
                    Chunk.this.release();
                }
            };
        }

        /** Bytes of the trace of tokens [from, to) on the heap (what it holds while it waits for a worker). */
        long traceBytes(int from, int to) {
            long n = to - from;
            return 4 * (n * (residualAt >= 0 ? hidden : 0) + n * experts + 3 * n * topK + 2 * n);
        }

        /**
         * The trace of tokens [from, to) of the chunk (one sequence's batch, as the CPU runs it), in arrays of its own,
         * once the copies have landed (waits for their fence, on the calling thread).
         */
        MoeTrace trace(int from, int to) {
            awaitCopies();
            int n = to - from, k = topK;
            int[] positions = new int[n];
            for (int t = 0; t < n; t++) positions[t] = t;
            float[] residualIn = residualAt < 0 ? null : floats(residualAt, from * hidden, n * hidden);
            int[] ids = onHost != null ? java.util.Arrays.copyOfRange(onHost.ids(), from * k, to * k)
                    : region.asSlice(idsAt + 4L * from * k, 4L * n * k).toArray(ValueLayout.JAVA_INT);
            float[] weights = onHost != null ? java.util.Arrays.copyOfRange(onHost.weights(), from * k, to * k)
                    : floats(weightsAt, from * k, n * k);
            return new MoeTrace(layer, positions, n, hidden, experts, k, residualIn,
                    floats(logitsAt, from * experts, n * experts), ids, weights, null, null, null, null,
                    floats(normsAt, from * k, n * k), floats(turnsAt, from, n));
        }

        /** One sequence's trace is done (or dropped): the region goes back after the chunk's last. */
        void release() {
            if (holders.decrementAndGet() == 0) giveBack(region);
        }

        private float[] floats(long at, long first, long count) {
            return region.asSlice(at + 4 * first, 4 * count).toArray(ValueLayout.JAVA_FLOAT);
        }

        /** Waits for the fence once, whichever thread comes first; the others see it passed. */
        private void awaitCopies() {
            if (landed) return;
            synchronized (this) {
                if (!landed) {
                    ops.hostWaits(fence);
                    landed = true;
                }
            }
        }
    }
}
