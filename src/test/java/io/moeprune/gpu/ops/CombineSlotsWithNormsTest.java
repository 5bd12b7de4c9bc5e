package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.moeprune.gpu.ops.HostBuffers.floats;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HostOps's {@link DeviceOps#combineSlotsWithNorms} (-Dmoeprune.fusedSlotNorms): the combined rows and the slots'
 * norms bit for bit those of combineSlots then slotNorms, for F32 and BF16 rows, masked slots (row −1), k = 1…8 and
 * widths that are not multiples of 32.
 */
class CombineSlotsWithNormsTest {
    @Test
    void theFusedOpEqualsCombineSlotsThenSlotNormsBitForBit() {
        Random r = new Random(22);
        int n = 3;
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            for (ExpertOutputs type : ExpertOutputs.values()) {
                for (int k = 1; k <= 8; k++) {
                    for (int width : new int[]{5, 33, 100}) {
                        String what = type + " k=" + k + " width=" + width;
                        int slots = n * k;
                        DeviceBuffer rows = ops.alloc((long) type.bytes() * slots * width, "rows");
                        MemorySegment values = a.allocate((long) type.bytes() * slots * width);
                        for (long i = 0; i < (long) slots * width; i++) {
                            float v = (float) r.nextGaussian();
                            if (type == ExpertOutputs.BF16) values.setAtIndex(JAVA_SHORT, i, HostOps.toBf16Bits(v));
                            else values.setAtIndex(JAVA_FLOAT, i, v);
                        }
                        ops.upload(values, rows, 0);
                        HostBuffers.Slots routed = HostBuffers.randomSlots(ops, a, r, slots);
                        DeviceBuffer sr = routed.rows(), w = routed.weights();
                        DeviceBuffer out = ops.alloc(4L * n * width, "out"), norms = ops.alloc(4L * slots, "norms");
                        DeviceBuffer fusedOut = ops.alloc(4L * n * width, "fused out");
                        DeviceBuffer fusedNorms = ops.alloc(4L * slots, "fused norms");
                        ops.combineSlots(rows, sr, w, out, n, k, width, type);
                        ops.slotNorms(rows, sr, norms, slots, width, type);
                        ops.combineSlotsWithNorms(rows, sr, w, fusedOut, n, k, width, fusedNorms, type);
                        float[] combined = floats(ops, a, out, n * width), normValues = floats(ops, a, norms, slots);
                        assertArrayEquals(combined, floats(ops, a, fusedOut, n * width), what + " combined");
                        assertArrayEquals(normValues, floats(ops, a, fusedNorms, slots), what + " norms");
                        if (k > 1) assertEquals(0f, normValues[1], what + ": a masked slot's norm");
                        assertTrue(normValues[0] > 0, what + ": a slot's norm");
                        for (DeviceBuffer b : new DeviceBuffer[]{rows, sr, w, out, norms, fusedOut, fusedNorms}) {
                            ops.free(b);
                        }
                    }
                }
            }
        }
    }
}
