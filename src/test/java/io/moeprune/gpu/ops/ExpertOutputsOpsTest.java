package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HostOps's BF16 expert rows ({@link ExpertOutputs}): the grouped products' outputs are the F32 ones rounded to
 * nearest even, bit for bit, and combineSlots, slotNorms and gatedActivation read them as the F32 readers read their
 * exact widening.
 */
class ExpertOutputsOpsTest {
    private static final int IN = 24, OUT = 16;

    @Test
    void bf16ProductsAreTheF32OnesRoundedAndTheReadersWidenThem() {
        int[] rows = {3, 0, 5, 2};
        int total = 10, k = 2, n = total / k;
        Random r = new Random(5);
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            DeviceBuffer w = ops.alloc(2L * rows.length * OUT * IN, "w"), x = ops.alloc(2L * total * IN, "x");
            DeviceBuffer f32 = ops.alloc(4L * total * OUT, "f32"), bf16 = ops.alloc(2L * total * OUT, "bf16");
            upload(ops, w, bf16Values(r, rows.length * OUT * IN), a);
            upload(ops, x, bf16Values(r, total * IN), a);
            long[] wp = new long[rows.length], xp = new long[rows.length];
            long[] fp = new long[rows.length], bp = new long[rows.length];
            for (int e = 0, start = 0; e < rows.length; start += rows[e], e++) {
                wp[e] = w.address() + 2L * e * OUT * IN;
                xp[e] = x.address() + 2L * start * IN;
                fp[e] = f32.address() + 4L * start * OUT;
                bp[e] = bf16.address() + 2L * start * OUT;
            }
            ops.groupedLinear(rows, OUT, IN, wp, xp, fp);
            ops.groupedLinear(rows, OUT, IN, wp, xp, bp, ExpertOutputs.BF16);
            float[] wide = download(ops, f32, 4L * total * OUT, a).toArray(JAVA_FLOAT);
            short[] narrow = download(ops, bf16, 2L * total * OUT, a).toArray(JAVA_SHORT);
            float[] widened = new float[wide.length];
            for (int i = 0; i < wide.length; i++) {
                assertEquals(HostOps.toBf16Bits(wide[i]), narrow[i], "element " + i);
                widened[i] = Float.intBitsToFloat((narrow[i] & 0xFFFF) << 16);
            }
            assertNotEquals(0, java.util.Arrays.compare(wide, widened), "the rounding shows");

            // The readers: BF16 rows give what the F32 readers give on the widened rows.
            DeviceBuffer widenedRows = ops.alloc(4L * total * OUT, "widened");
            MemorySegment s = a.allocateFrom(JAVA_FLOAT, widened);
            ops.upload(s, widenedRows, 0);
            int[] slotRow = {3, 0, 7, -1, 1, 9, 2, 8, 4, 5};
            float[] weight = new float[total];
            for (int i = 0; i < total; i++) weight[i] = (float) r.nextDouble();
            DeviceBuffer sr = ops.alloc(4L * total, "slot rows"), wt = ops.alloc(4L * total, "weights");
            ops.upload(a.allocateFrom(JAVA_INT, slotRow), sr, 0);
            ops.upload(a.allocateFrom(JAVA_FLOAT, weight), wt, 0);
            DeviceBuffer outF = ops.alloc(4L * n * OUT, "out f32"), outB = ops.alloc(4L * n * OUT, "out bf16");
            ops.combineSlots(widenedRows, sr, wt, outF, n, k, OUT);
            ops.combineSlots(bf16, sr, wt, outB, n, k, OUT, ExpertOutputs.BF16);
            assertArrayEquals(download(ops, outF, 4L * n * OUT, a).toArray(JAVA_FLOAT),
                    download(ops, outB, 4L * n * OUT, a).toArray(JAVA_FLOAT));
            DeviceBuffer normF = ops.alloc(4L * total, "norms f32"), normB = ops.alloc(4L * total, "norms bf16");
            ops.slotNorms(widenedRows, sr, normF, total, OUT);
            ops.slotNorms(bf16, sr, normB, total, OUT, ExpertOutputs.BF16);
            float[] norms = download(ops, normB, 4L * total, a).toArray(JAVA_FLOAT);
            assertArrayEquals(download(ops, normF, 4L * total, a).toArray(JAVA_FLOAT), norms);
            assertEquals(0f, norms[3], "a masked slot");
            assertTrue(norms[0] > 0);
            // The activation of BF16 [gate | up] rows (here the products' rows read as [n, 2·OUT/2] pairs).
            long actBytes = 2L * total * OUT / 2;
            DeviceBuffer actF = ops.alloc(actBytes, "from F32"), actB = ops.alloc(actBytes, "from BF16");
            ops.gatedActivation(widenedRows, actF, total, OUT / 2, 1.702f, 7f, 1f);
            ops.gatedActivation(bf16, actB, total, OUT / 2, 1.702f, 7f, 1f, ExpertOutputs.BF16);
            assertArrayEquals(download(ops, actF, actBytes, a).toArray(JAVA_SHORT),
                    download(ops, actB, actBytes, a).toArray(JAVA_SHORT));
        }
    }

    @Test
    void theSwitchReadsF32Bf16AndRefusesAnythingElse() {
        String before = System.getProperty(ExpertOutputs.PROPERTY);
        try {
            System.clearProperty(ExpertOutputs.PROPERTY);
            assertEquals(ExpertOutputs.F32, ExpertOutputs.fromProperties());
            System.setProperty(ExpertOutputs.PROPERTY, "bf16");
            assertEquals(ExpertOutputs.BF16, ExpertOutputs.fromProperties());
            System.setProperty(ExpertOutputs.PROPERTY, "fp16");
            MoepruneException e = assertThrows(MoepruneException.class, ExpertOutputs::fromProperties);
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
            assertEquals("-Dmoeprune.expertOutputs=fp16: not f32 or bf16", e.getMessage());
        } finally {
            if (before == null) System.clearProperty(ExpertOutputs.PROPERTY);
            else System.setProperty(ExpertOutputs.PROPERTY, before);
        }
    }

    private static float[] bf16Values(Random r, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = Float.intBitsToFloat((HostOps.toBf16Bits((float) r.nextGaussian()) & 0xFFFF) << 16);
        }
        return v;
    }

    private static void upload(HostOps ops, DeviceBuffer b, float[] bf16Exact, Arena a) {
        MemorySegment s = a.allocate(2L * bf16Exact.length);
        for (int i = 0; i < bf16Exact.length; i++) s.setAtIndex(JAVA_SHORT, i, HostOps.toBf16Bits(bf16Exact[i]));
        ops.upload(s, b, 0);
    }

    private static MemorySegment download(HostOps ops, DeviceBuffer b, long bytes, Arena a) {
        MemorySegment s = a.allocate(bytes);
        ops.download(b, 0, s);
        return s;
    }
}
