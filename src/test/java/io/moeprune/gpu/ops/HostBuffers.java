package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** HostOps buffers from and to Java arrays, and checks on them, for the operation tests of this package. */
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

    /** A combine's slots: each slot's expert row (−1: a masked expert) and its routing weight, on the device. */
    record Slots(DeviceBuffer rows, DeviceBuffer weights) {
    }

    /** {@code slots} random slots over rows 0…slots−1, every third masked. */
    static Slots randomSlots(HostOps ops, Arena a, Random r, int slots) {
        int[] slotRow = new int[slots];
        float[] weight = new float[slots];
        for (int i = 0; i < slots; i++) {
            slotRow[i] = i % 3 == 1 ? -1 : r.nextInt(slots);
            weight[i] = r.nextFloat();
        }
        return new Slots(upload(ops, a, slotRow), upload(ops, a, weight));
    }

    /**
     * Per-head rows (rows of {@code stride}, heads in columns [first, last)) against their input x: every head element
     * moved and every other element kept.
     */
    static void assertOnlyHeadsMoved(float[] x, float[] got, int rows, int stride, int first, int last, String shape) {
        for (int t = 0; t < rows; t++) {
            for (int i = 0; i < stride; i++) {
                int e = t * stride + i;
                if (i >= first && i < last) assertNotEquals(x[e], got[e], shape + " element " + e);
                else assertEquals(x[e], got[e], shape + " element " + e + " outside the heads");
            }
        }
    }
}
