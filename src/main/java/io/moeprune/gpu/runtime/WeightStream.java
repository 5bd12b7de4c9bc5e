package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The layer-major weight schedule: two device slots, each sized for the largest layer, and two pinned staging
 * buffers. While layer L computes in one slot, the host stages layer L+1 into pinned memory and queues its copy into
 * the other slot on the copy stream, so each layer's weights cross the bus once per run, overlapping the compute of
 * the layer before. The fences order the two streams: a slot's copy waits until the compute of the layer two back
 * (its last user) has finished, the compute of a layer waits for its copy, and the host waits for the copy that last
 * read a staging buffer before refilling it.
 */
final class WeightStream implements AutoCloseable {
    private final DeviceOps ops;
    private final List<LayerPlan> layers;
    private final DeviceBuffer[] slots = new DeviceBuffer[2];
    private final MemorySegment[] staging = new MemorySegment[2];
    private final long[] copied;
    private final long[] slotFree = new long[2];

    /** Allocates the slots ({@code slotBytes} each: {@link #slotBytes}) and queues layer 0's copy. */
    WeightStream(DeviceOps ops, List<LayerPlan> layers, long slotBytes) {
        this.ops = ops;
        this.layers = layers;
        this.copied = new long[layers.size()];
        try {
            for (int s = 0; s < 2; s++) {
                slots[s] = ops.alloc(slotBytes, "layer weights (slot " + (s + 1) + " of 2, " + slotBytes + " bytes)");
                staging[s] = ops.pinnedHost(slotBytes);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        queue(0);
    }

    /** Bytes a slot needs: the largest layer's layout. */
    static long slotBytes(List<LayerPlan> layers) {
        return layers.stream().mapToLong(l -> l.layout().bytes()).max().orElse(SlotLayout.ALIGN);
    }

    /**
     * Layer {@code l}'s slot, ready for the compute stream: queues layer l+1's copy first (so it overlaps l's
     * compute), then makes the compute stream wait for l's copy and dequantises what came raw.
     */
    DeviceBuffer enter(int l) {
        if (l + 1 < layers.size()) queue(l + 1);
        ops.computeWaits(copied[l]);
        DeviceBuffer slot = slots[l % 2];
        layers.get(l).layout().dequantize(ops, slot);
        return slot;
    }

    /** Everything of layer {@code l} is queued: its slot may be refilled once the compute stream passes here. */
    void leave(int l) {
        slotFree[l % 2] = ops.computeFence();
    }

    private void queue(int l) {
        int s = l % 2;
        if (l >= 2) {
            ops.copyWaits(slotFree[s]);     // layer l-2's compute is done with the slot
            ops.hostWaits(copied[l - 2]);   // and its copy with the staging buffer
        }
        SlotLayout layout = layers.get(l).layout();
        layout.stage(staging[s]);
        ops.uploadOnCopyStream(staging[s].asSlice(0, layout.bytes()), slots[s], 0);
        copied[l] = ops.copyFence();
    }

    /** A pinned staging buffer the last layer's copy no longer reads (for the LM head's upload). */
    MemorySegment freeStaging() {
        ops.synchronize();
        return staging[0];
    }

    @Override
    public void close() {
        for (int s = 0; s < 2; s++) {
            if (slots[s] != null) ops.free(slots[s]);
            slots[s] = null;
        }
    }
}
