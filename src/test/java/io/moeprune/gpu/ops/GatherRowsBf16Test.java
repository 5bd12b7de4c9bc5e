package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static io.moeprune.gpu.ops.HostBuffers.shorts;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * HostOps's gatherRowsBf16 (the experts' inputs copied from the normalised BF16 rows) against what it replaced,
 * gatherRows of the F32 rows those were rounded from: bit for bit, repeated and unordered indices included.
 */
class GatherRowsBf16Test {
    @Test
    void copyingTheBf16RowsEqualsGatheringAndRoundingTheF32Rows() {
        int rows = 11, width = 24, count = 40;
        Random r = new Random(5);
        float[] x = new float[rows * width];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 7;
        int[] index = new int[count];
        for (int i = 0; i < count; i++) index[i] = r.nextInt(rows);
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            DeviceBuffer f32 = ops.alloc(4L * x.length, "f32 rows"), bf16 = ops.alloc(2L * x.length, "bf16 rows");
            ops.upload(a.allocateFrom(JAVA_FLOAT, x), f32, 0);
            ops.toBf16(f32, bf16, x.length);
            DeviceBuffer idx = ops.alloc(4L * count, "index");
            ops.upload(a.allocateFrom(JAVA_INT, index), idx, 0);
            DeviceBuffer fromF32 = ops.alloc(2L * count * width, "gathered"),
                    fromBf16 = ops.alloc(2L * count * width, "copied");
            ops.gatherRows(f32, idx, fromF32, count, width);
            ops.gatherRowsBf16(bf16, idx, fromBf16, count, width);
            assertArrayEquals(shorts(ops, a, fromF32, count * width), shorts(ops, a, fromBf16, count * width));
        }
    }
}
