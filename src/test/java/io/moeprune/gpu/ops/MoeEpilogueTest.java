package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static io.moeprune.gpu.ops.HostBuffers.floats;
import static io.moeprune.gpu.ops.HostBuffers.ints;
import static io.moeprune.gpu.ops.HostBuffers.upload;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * HostOps's {@link DeviceOps#moeEpilogue} (-Dmoeprune.fusedEpilogue): x, the finite flag, the slots' norms and the
 * turns bit for bit those of the unfused pass's sequence (combineSlots, slotNorms, turns of the routed rows, the shared
 * rows added, addScaled, nonFinite), for F32 and BF16 rows, masked slots (row −1), k = 1…10 (past the kernel's eight
 * slots fused in registers), widths that are not multiples of 32, m 1 and 0.22, with and without shared rows, watched
 * or not; a NaN and an infinity in the expert rows raise the flag at the first non-finite element of x.
 */
class MoeEpilogueTest {
    @Test
    void theFusedOpEqualsTheUnfusedSequenceBitForBit() {
        Random r = new Random(22);
        int n = 3;
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            for (ExpertOutputs type : ExpertOutputs.values()) {
                for (int k : new int[]{1, 2, 4, 8, 10}) {
                    for (int width : new int[]{5, 33, 100}) {
                        for (int variant = 0; variant < 4; variant++) {
                            boolean shared = (variant & 1) != 0, watched = (variant & 2) != 0;
                            float m = variant == 1 ? 0.22f : 1f;
                            String what = type + " k=" + k + " width=" + width + " shared=" + shared + " watched="
                                    + watched + " m=" + m;
                            check(ops, a, r, type, n, k, width, shared, watched, m, what);
                        }
                    }
                }
            }
        }
    }

    private static void check(HostOps ops, Arena a, Random r, ExpertOutputs type, int n, int k, int width,
                              boolean shared, boolean watched, float m, String what) {
        int slots = n * k;
        long count = (long) n * width;
        float[] rowValues = new float[slots * width];
        for (int i = 0; i < rowValues.length; i++) rowValues[i] = (float) r.nextGaussian();
        if (k > 2) {
            rowValues[width + 2] = Float.NaN;                    // slot row 1 (some token's) column 2
            rowValues[2 * width + 1] = Float.POSITIVE_INFINITY;  // and row 2's column 1
        }
        DeviceBuffer rows = uploadAs(ops, a, type, rowValues);
        HostBuffers.Slots routed = HostBuffers.randomSlots(ops, a, r, slots);
        DeviceBuffer sr = routed.rows(), w = routed.weights();
        float[] xValues = new float[(int) count], sharedValues = new float[(int) count];
        for (int i = 0; i < count; i++) {
            xValues[i] = (float) r.nextGaussian();
            sharedValues[i] = (float) r.nextGaussian();
        }
        DeviceBuffer sharedRows = shared ? uploadAs(ops, a, ExpertOutputs.F32, sharedValues) : null;
        DeviceBuffer x = uploadAs(ops, a, ExpertOutputs.F32, xValues);
        DeviceBuffer fusedX = uploadAs(ops, a, ExpertOutputs.F32, xValues);
        DeviceBuffer branch = ops.alloc(4 * count, "branch"), scratch = ops.alloc(4 * count, "scratch");
        DeviceBuffer norms = ops.alloc(4L * slots, "norms"), fusedNorms = ops.alloc(4L * slots, "fused norms");
        DeviceBuffer turns = ops.alloc(4L * n, "turns"), fusedTurns = ops.alloc(4L * n, "fused turns");
        DeviceBuffer flags = upload(ops, a, new int[3]), fusedFlags = upload(ops, a, new int[3]);

        // The unfused pass's order (FeedForwardStep): combine, observers' norms and turns, shared, add, check.
        ops.combineSlots(rows, sr, w, branch, n, k, width, type);
        if (watched) {
            ops.slotNorms(rows, sr, norms, slots, width, type);
            ops.turns(x, branch, turns, n, width);
        }
        if (shared) ops.addScaled(branch, 0, sharedRows, 0, count, 1f);
        ops.addScaled(x, 0, branch, 0, count, m);
        ops.nonFinite(x, 0, count, flags, 1);
        ops.moeEpilogue(rows, sr, w, n, k, width, type, sharedRows, fusedX, m, watched ? fusedNorms : null,
                watched ? fusedTurns : null, fusedFlags, 1, scratch);

        float[] want = floats(ops, a, x, count);
        assertBitsEqual(want, floats(ops, a, fusedX, count), what + " x");
        int[] flagValues = ints(ops, a, flags, 3);
        assertArrayEquals(flagValues, ints(ops, a, fusedFlags, 3), what + " flags");
        int firstBad = -1;
        for (int i = 0; i < want.length && firstBad < 0; i++) if (!Float.isFinite(want[i])) firstBad = i;
        assertEquals(firstBad < 0 ? 0 : 2 * (int) (count - firstBad) + (Float.isNaN(want[firstBad]) ? 1 : 0),
                flagValues[1], what + ": the flag names x's first non-finite element");
        if (watched) {
            assertBitsEqual(floats(ops, a, norms, slots), floats(ops, a, fusedNorms, slots), what + " norms");
            assertBitsEqual(floats(ops, a, turns, n), floats(ops, a, fusedTurns, n), what + " turns");
        }
        for (DeviceBuffer b : new DeviceBuffer[]{rows, sr, w, sharedRows, x, fusedX, branch, scratch, norms,
                fusedNorms, turns, fusedTurns, flags, fusedFlags}) {
            if (b != null) ops.free(b);
        }
    }

    private static void assertBitsEqual(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + " [" + i + "]");
        }
    }

    private static DeviceBuffer uploadAs(HostOps ops, Arena a, ExpertOutputs type, float[] values) {
        MemorySegment s = a.allocate((long) type.bytes() * values.length);
        for (int i = 0; i < values.length; i++) {
            if (type == ExpertOutputs.BF16) s.setAtIndex(JAVA_SHORT, i, HostOps.toBf16Bits(values[i]));
            else s.setAtIndex(JAVA_FLOAT, i, values[i]);
        }
        DeviceBuffer b = ops.alloc(Math.max(4, s.byteSize()), "values");
        ops.upload(s, b, 0);
        return b;
    }
}
