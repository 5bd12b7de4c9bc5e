package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The layer-major weight schedule: two device slots, each sized for the largest layer, and two pinned staging
 * buffers, so that three things overlap: the compute of layer L (compute stream), the copy of layer L+1 into the other
 * slot (copy stream, queued before L's compute), and the staging of layer L+2 from the mapped checkpoint into pinned
 * memory (a host thread handing the layer's pieces to a {@link StagingPool}). Each layer's weights cross the bus once per run. Fences order the streams: a slot's copy
 * waits until the compute of the layer two back (its last user) has passed, a layer's compute waits for its copy, and
 * the host waits for the copy that last read a staging buffer before refilling it.
 *
 * <p>Only the calling thread touches {@link DeviceOps}; the staging thread only reads the checkpoint and writes
 * pinned memory.
 */
final class WeightStream implements AutoCloseable {
    private final DeviceOps ops;
    private final List<LayerPlan> layers;
    private final DeviceBuffer[] slots = new DeviceBuffer[2];
    private final MemorySegment[] staging = new MemorySegment[2];
    private final long[] copied;
    private final long[] slotFree = new long[2];
    private final PassClock clock;
    private final ExecutorService stager = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "moeprune-gpu-staging");
        t.setDaemon(true);
        return t;
    });
    private final StagingPool pool = new StagingPool();
    /** The staging of the next layer to copy (l+1 at {@link #enter}(l)), or null. */
    private CompletableFuture<Void> staged;

    /**
     * Allocates the slots ({@code slotBytes} each: {@link #slotBytes}), queues layer 0's copy, stages layer 1; the
     * staging, copies and dequantisation are marked on {@code clock}.
     */
    WeightStream(DeviceOps ops, List<LayerPlan> layers, long slotBytes, PassClock clock) {
        this.ops = ops;
        this.layers = layers;
        this.clock = clock;
        this.copied = new long[layers.size()];
        try {
            for (int s = 0; s < 2; s++) {
                slots[s] = ops.alloc(slotBytes, "layer weights (slot " + (s + 1) + " of 2)");
                staging[s] = ops.pinnedHost(stagingBytes(layers));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        stage(0, staging[0]);
        queueCopy(0);
        if (layers.size() > 1) staged = stageInBackground(1);
    }

    /** Bytes a pinned staging buffer needs: the largest layer's packed uploads. */
    static long stagingBytes(List<LayerPlan> layers) {
        return Math.max(SlotLayout.ALIGN, layers.stream().mapToLong(l -> l.layout().uploadBytes()).max().orElse(0));
    }

    /** Bytes a slot needs: the largest layer's layout. */
    static long slotBytes(List<LayerPlan> layers) {
        return layers.stream().mapToLong(l -> l.layout().bytes()).max().orElse(SlotLayout.ALIGN);
    }

    /**
     * Layer {@code l}'s slot, ready for the compute stream: queues layer l+1's copy first (staged meanwhile, so it
     * overlaps l's compute), makes the compute stream wait for l's copy, dequantises what came raw, and starts staging
     * layer l+2 into the staging buffer l's copy has finished reading.
     */
    DeviceBuffer enter(int l) {
        if (l + 1 < layers.size()) {
            awaitStaging();
            if (l + 1 >= 2) ops.copyWaits(slotFree[(l + 1) % 2]);   // layer l-1's compute is done with the slot
            queueCopy(l + 1);
        }
        ops.computeWaits(copied[l]);
        DeviceBuffer slot = slots[l % 2];
        clock.dequantQueued(l, false);
        layers.get(l).layout().dequantize(ops, slot);
        clock.dequantQueued(l, true);
        if (l + 2 < layers.size()) {
            ops.hostWaits(copied[l]);   // layer l's copy has read staging[l % 2]
            staged = stageInBackground(l + 2);
        }
        return slot;
    }

    /** Everything of layer {@code l} is queued: its slot may be refilled once the compute stream passes here. */
    void leave(int l) {
        slotFree[l % 2] = ops.computeFence();
    }

    private CompletableFuture<Void> stageInBackground(int l) {
        MemorySegment into = staging[l % 2];
        return CompletableFuture.runAsync(() -> stage(l, into), stager);
    }

    private void stage(int l, MemorySegment into) {
        long t0 = System.nanoTime();
        pool.stage(layers.get(l).layout(), into);
        clock.staged(l, System.nanoTime() - t0);
    }

    private void awaitStaging() {
        try {
            staged.join();
        } catch (CompletionException e) {
            // A staging thread's failure (a shard truncated under us: InternalError) is the caller's.
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw e;
        }
    }

    private void queueCopy(int l) {
        SlotLayout layout = layers.get(l).layout();
        clock.uploadQueued(l, false, layout.uploadBytes());
        for (SlotLayout.Upload run : layout.packedUploads()) {
            ops.uploadOnCopyStream(staging[l % 2].asSlice(run.stagingOffset(), run.bytes()), slots[l % 2],
                    run.slotOffset());
        }
        clock.uploadQueued(l, true, layout.uploadBytes());
        copied[l] = ops.copyFence();
    }

    /**
     * A pinned staging buffer the last layer's copy no longer reads (for the LM head's upload): valid until
     * {@link #close}.
     */
    MemorySegment freeStaging() {
        ops.synchronize();
        return staging[0];
    }

    /** Frees the device slots (the LM head takes their place); the staging buffers stay until {@link #close}. */
    void freeSlots() {
        for (int s = 0; s < 2; s++) {
            if (slots[s] != null) ops.free(slots[s]);
            slots[s] = null;
        }
    }

    @Override
    public void close() {
        // A staging still running (a run that failed mid-way) writes pinned memory the device frees on its close:
        // let it finish first (at most one layer's staging is ever outstanding).
        stager.shutdown();
        try {
            if (!stager.awaitTermination(10, TimeUnit.MINUTES)) throw new IllegalStateException("staging did not end");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.close();
        freeSlots();
        for (int s = 0; s < 2; s++) {   // kept by the ops for the next run's staging
            if (staging[s] != null) ops.releasePinned(staging[s]);
            staging[s] = null;
        }
    }
}
