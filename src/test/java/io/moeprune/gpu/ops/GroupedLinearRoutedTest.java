package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceOps#groupedLinearRouted} on HostOps: the counts read from a device expertStart, the weights from a
 * device table of addresses, give the same bits as {@link DeviceOps#groupedLinear} of the same counts and addresses;
 * uneven counts 0..9 (an expert of 9 rows is two of the CUDA kernel's pieces), masked experts of 0 rows, the slots of
 * masked tokens after the last expert's rows left alone, F32 and BF16 outputs, and a count beyond the bound refused.
 */
class GroupedLinearRoutedTest {
    /** Counts 0..9, uneven, experts 1, 4 and 7 masked (0 rows). */
    private static final int[] COUNTS = {3, 0, 9, 1, 0, 8, 2, 0, 5, 7};
    private static final int OUT = 24, IN = 40, MOST = 9, SLOTS_PAST = 3;

    @Test
    void theSameBitsAsTheHostsCountsF32AndBf16() {
        for (ExpertOutputs outputs : ExpertOutputs.values()) {
            try (HostOps ops = new HostOps(1L << 26); Arena a = Arena.ofConfined()) {
                Random r = new Random(22);
                int experts = COUNTS.length, total = 0;
                int[] start = new int[experts + 1];
                for (int e = 0; e < experts; e++) start[e + 1] = start[e] + COUNTS[e];
                total = start[experts];
                DeviceBuffer w = bf16(ops, a, r, (long) experts * OUT * IN);
                DeviceBuffer x = bf16(ops, a, r, (long) (total + SLOTS_PAST) * IN);
                long rowBytes = (long) outputs.bytes() * OUT, yBytes = rowBytes * (total + SLOTS_PAST);
                DeviceBuffer routedY = ops.alloc(yBytes, "routed outputs"), hostY = ops.alloc(yBytes, "outputs");
                // Experts' weights stored out of order: the table, not the expert's index, says where each is.
                long[] addresses = new long[experts], xs = new long[experts], ys = new long[experts];
                for (int e = 0; e < experts; e++) {
                    addresses[e] = w.address() + 2L * ((e * 7) % experts) * OUT * IN;
                    xs[e] = x.address() + 2L * start[e] * IN;
                    ys[e] = hostY.address() + rowBytes * start[e];
                }
                DeviceBuffer table = ops.alloc(8L * experts, "weights' addresses");
                ops.upload(a.allocateFrom(JAVA_LONG, addresses), table, 0);
                DeviceBuffer expertStart = HostBuffers.upload(ops, a, start);

                ops.groupedLinear(COUNTS, OUT, IN, addresses, xs, ys, outputs);
                ops.groupedLinearRouted(expertStart, table, experts, x, routedY, OUT, IN, MOST, outputs);

                short[] routed = HostBuffers.shorts(ops, a, routedY, yBytes / 2);
                short[] expected = HostBuffers.shorts(ops, a, hostY, yBytes / 2);
                int live = (int) (rowBytes * total / 2);
                assertArrayEquals(java.util.Arrays.copyOf(expected, live), java.util.Arrays.copyOf(routed, live),
                        outputs + ": the grouped rows");
                for (int i = live; i < routed.length; i++) {
                    assertEquals((short) 0x7F7F, routed[i], outputs + ": a masked slot's row was written at " + i);
                }
                assertTrue(nonZero(routed, live) > live / 2, outputs + ": the products wrote values");
            }
        }
    }

    @Test
    void aCountBeyondTheBoundIsRefused() {
        try (HostOps ops = new HostOps(1L << 26); Arena a = Arena.ofConfined()) {
            DeviceBuffer start = HostBuffers.upload(ops, a, new int[]{0, 2, 12});
            DeviceBuffer table = ops.alloc(16, "weights' addresses");
            DeviceBuffer x = ops.alloc(2L * 12 * IN, "x"), y = ops.alloc(4L * 12 * OUT, "y");
            IllegalStateException e = assertThrows(IllegalStateException.class, () ->
                    ops.groupedLinearRouted(start, table, 2, x, y, OUT, IN, 8, ExpertOutputs.F32));
            assertTrue(e.getMessage().contains("expert 1: 10 rows"), e.getMessage());
        }
    }

    private static DeviceBuffer bf16(HostOps ops, Arena a, Random r, long count) {
        short[] v = new short[Math.toIntExact(count)];
        for (int i = 0; i < v.length; i++) v[i] = (short) (Float.floatToRawIntBits((float) r.nextGaussian()) >>> 16);
        DeviceBuffer b = ops.alloc(2L * count, "bf16 rows");
        MemorySegment s = a.allocateFrom(JAVA_SHORT, v);
        ops.upload(s, b, 0);
        return b;
    }

    private static int nonZero(short[] v, int count) {
        int n = 0;
        for (int i = 0; i < count; i++) if (v[i] != 0) n++;
        return n;
    }
}
