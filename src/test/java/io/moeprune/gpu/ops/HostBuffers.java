package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** HostOps buffers from and to Java arrays, for the operation tests of this package. */
final class HostBuffers {
    private HostBuffers() {
    }

    /** A new buffer holding {@code values} (F32). */
    static DeviceBuffer upload(HostOps ops, Arena a, float[] values) {
        DeviceBuffer b = ops.alloc(4L * values.length, "rows");
        ops.upload(a.allocateFrom(JAVA_FLOAT, values), b, 0);
        return b;
    }

    /** A new buffer holding {@code values} (int32). */
    static DeviceBuffer upload(HostOps ops, Arena a, int[] values) {
        DeviceBuffer b = ops.alloc(4L * values.length, "ints");
        ops.upload(a.allocateFrom(JAVA_INT, values), b, 0);
        return b;
    }

    /** The first {@code count} F32 values of {@code b}. */
    static float[] floats(HostOps ops, Arena a, DeviceBuffer b, long count) {
        MemorySegment s = a.allocate(4L * count);
        ops.download(b, 0, s);
        return s.toArray(JAVA_FLOAT);
    }

    /** The first {@code count} BF16 values of {@code b}, as their bits. */
    static short[] shorts(HostOps ops, Arena a, DeviceBuffer b, long count) {
        MemorySegment s = a.allocate(2L * count);
        ops.download(b, 0, s);
        return s.toArray(JAVA_SHORT);
    }

    /** The first {@code count} int32 values of {@code b}. */
    static int[] ints(HostOps ops, Arena a, DeviceBuffer b, long count) {
        MemorySegment s = a.allocate(4L * count);
        ops.download(b, 0, s);
        return s.toArray(JAVA_INT);
    }
}
