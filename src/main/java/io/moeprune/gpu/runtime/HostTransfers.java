package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Small host↔device copies of Java arrays (routing tables, router logits, traces) through one native host buffer.
 * It is pageable on purpose: a copy from pageable memory has left it when {@link DeviceOps#upload} returns, so the
 * buffer can be refilled at once (a pinned one would be read later, asynchronously).
 */
final class HostTransfers implements AutoCloseable {
    private final DeviceOps ops;
    private final Arena arena = Arena.ofShared();
    private MemorySegment buffer = MemorySegment.NULL;

    HostTransfers(DeviceOps ops) {
        this.ops = ops;
    }

    private MemorySegment buffer(long bytes) {
        if (buffer.byteSize() < bytes) buffer = arena.allocate(Math.max(bytes, 2 * buffer.byteSize()), 256);
        return buffer.asSlice(0, bytes);
    }

    void upload(int[] values, int count, DeviceBuffer dst) {
        MemorySegment s = buffer(4L * count);
        MemorySegment.copy(values, 0, s, ValueLayout.JAVA_INT_UNALIGNED, 0, count);
        ops.upload(s, dst, 0);
    }

    void upload(float[] values, int count, DeviceBuffer dst, long offset) {
        MemorySegment s = buffer(4L * count);
        MemorySegment.copy(values, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, count);
        ops.upload(s, dst, offset);
    }

    /** count floats of src from {@code offset} (bytes) into dst from {@code at}. */
    void download(DeviceBuffer src, long offset, float[] dst, int at, int count) {
        MemorySegment s = buffer(4L * count);
        ops.download(src, offset, s);
        MemorySegment.copy(s, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, dst, at, count);
    }

    float[] download(DeviceBuffer src, long offset, int count) {
        float[] out = new float[count];
        download(src, offset, out, 0, count);
        return out;
    }

    /** count ints of src from its start. */
    int[] downloadInts(DeviceBuffer src, int count) {
        MemorySegment s = buffer(4L * count);
        ops.download(src, 0, s);
        return s.toArray(ValueLayout.JAVA_INT_UNALIGNED);
    }

    @Override
    public void close() {
        arena.close();
    }
}
