package io.moeprune.gpu;

import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/** Test helpers: Java arrays to and from device buffers of any {@link DeviceOps} (HostOps in CI, CudaOps on a GPU). */
public final class DeviceArrays {
    private DeviceArrays() {
    }

    /** A new device buffer holding {@code heap}'s bytes (copied through native memory of {@code arena}). */
    public static DeviceBuffer upload(DeviceOps ops, Arena arena, MemorySegment heap, String what) {
        MemorySegment s = arena.allocate(heap.byteSize(), 8);
        s.copyFrom(heap);
        DeviceBuffer b = ops.alloc(heap.byteSize(), what);
        ops.upload(s, b, 0);
        return b;
    }

    /** The first {@code count} ints of {@code b}. */
    public static int[] ints(DeviceOps ops, Arena arena, DeviceBuffer b, int count) {
        MemorySegment s = arena.allocate(4L * count, 8);
        ops.download(b, 0, s);
        return s.toArray(JAVA_INT);
    }

    /** The first {@code count} floats of {@code b}. */
    public static float[] floats(DeviceOps ops, Arena arena, DeviceBuffer b, int count) {
        MemorySegment s = arena.allocate(4L * count, 8);
        ops.download(b, 0, s);
        return s.toArray(JAVA_FLOAT);
    }
}
