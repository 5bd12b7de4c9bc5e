package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The device-side finite checks of the residual rows after each layer (the CPU's {@code FiniteCheck}): one int32 flag
 * per check on the device ({@link DeviceOps#nonFinite}), read back once after the checks, so checking adds no
 * synchronisation to the run.
 */
final class FiniteFlags implements AutoCloseable {
    /** The first non-finite value a flag recorded: element {@code element} of what was checked, a NaN or not. */
    record Found(int slot, long element, boolean nan) {
    }

    private final DeviceOps ops;
    private final DeviceBuffer flags;
    private final long[] counts;

    FiniteFlags(DeviceOps ops, int slots) {
        this.ops = ops;
        this.flags = ops.alloc(4L * Math.max(1, slots), "the finite checks' flags");
        this.counts = new long[Math.max(1, slots)];
        reset();
    }

    /** Clears every flag (before checks that reuse them). */
    void reset() {
        ops.zero(flags, 0, flags.bytes());
    }

    /** Queues the check of {@code rows} rows of {@code width} F32 elements of x into flag {@code slot}. */
    void check(DeviceBuffer x, int rows, int width, int slot) {
        counts[slot] = (long) rows * width;
        ops.nonFinite(x, 0, counts[slot], flags, slot);
    }

    /**
     * The flags for an operation that raises flag {@code slot} itself as {@link DeviceOps#nonFinite} over {@code rows}
     * rows of {@code width} would (the fused MoE epilogue, {@link DeviceOps#moeEpilogue}): the check it replaces.
     */
    DeviceBuffer raisedBy(int rows, int width, int slot) {
        counts[slot] = (long) rows * width;
        return flags;
    }

    /** The lowest flagged slot's first non-finite value (downloads the flags: waits for the checks), or null. */
    Found first() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(4L * counts.length, 4);
            ops.download(flags, 0, host);
            for (int s = 0; s < counts.length; s++) {
                int flag = host.getAtIndex(ValueLayout.JAVA_INT, s);
                if (flag != 0) return new Found(s, counts[s] - flag / 2, (flag & 1) != 0);
            }
            return null;
        }
    }

    @Override
    public void close() {
        ops.free(flags);
    }
}
