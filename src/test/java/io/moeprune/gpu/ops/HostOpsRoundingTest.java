package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link HostOps.Rounding}: with a part's rounding off, its products read the exact F32 activations (the sums the
 * CPU's F32 products give) while the BF16 buffers still hold the rounded bits; with attention's on, Q, K, V and P are
 * rounded as the flash kernel rounds them.
 */
class HostOpsRoundingTest {
    private static final int N = 3, IN = 40, OUT = 5;

    @Test
    void aProductReadsExactActivationsWhereItsRoundingIsOff() {
        Random r = new Random(7);
        float[] x = new float[N * IN], w = new float[OUT * IN];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < w.length; i++) w[i] = bf16((float) r.nextGaussian());
        float[] rounded = linear(HostOps.Rounding.PRODUCTS, x, w), exact = linear(HostOps.Rounding.NONE, x, w);
        float[] expectRounded = new float[N * OUT], expectExact = new float[N * OUT];
        for (int t = 0; t < N; t++) {
            for (int o = 0; o < OUT; o++) {
                double a = 0, b = 0;
                for (int i = 0; i < IN; i++) {
                    a += (double) w[o * IN + i] * bf16(x[t * IN + i]);
                    b += (double) w[o * IN + i] * x[t * IN + i];
                }
                expectRounded[t * OUT + o] = (float) a;
                expectExact[t * OUT + o] = (float) b;
            }
        }
        for (int i = 0; i < N * OUT; i++) {
            assertEquals(expectRounded[i], rounded[i], "rounded " + i);
            assertEquals(expectExact[i], exact[i], "exact " + i);
        }
        // The experts' part alone off leaves the projections' inputs rounded.
        float[] projections = linear(new HostOps.Rounding(true, false, true), x, w);
        for (int i = 0; i < N * OUT; i++) assertEquals(expectRounded[i], projections[i], "projections " + i);
    }

    @Test
    void attentionRoundsQKVAndTheProbabilitiesWhereAsked() {
        Random r = new Random(11);
        int tokens = 6, dim = 8;
        float[] qkv = new float[tokens * 3 * dim];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) r.nextGaussian();
        float[] exact = attention(HostOps.Rounding.PRODUCTS, qkv, tokens, dim);
        float[] rounded = attention(HostOps.Rounding.GPU, qkv, tokens, dim);
        double worst = 0;
        for (int i = 0; i < exact.length; i++) worst = Math.max(worst, Math.abs(exact[i] - rounded[i]));
        assertTrue(worst > 0 && worst < 2e-2, "BF16 noise, not more: " + worst);
        // The first token attends itself only: its output is its V row, rounded to BF16 under the GPU's rounding.
        for (int d = 0; d < dim; d++) {
            assertEquals(qkv[2 * dim + d], exact[d], 1e-6f);
            assertEquals(bf16(qkv[2 * dim + d]), rounded[d], 1e-6f);
        }
    }

    @Test
    void theRoundingIsSetBeforeTheFirstAllocation() {
        try (HostOps ops = new HostOps(1L << 20)) {
            ops.alloc(16, "x");
            assertThrows(IllegalStateException.class, () -> ops.rounding(HostOps.Rounding.NONE));
        }
    }

    /** y = x·Wᵀ on HostOps under {@code rounding}, x converted to BF16 by toBf16 as the pass converts it. */
    private static float[] linear(HostOps.Rounding rounding, float[] x, float[] w) {
        try (HostOps ops = new HostOps(1L << 24).rounding(rounding); Arena a = Arena.ofConfined()) {
            DeviceBuffer xf = ops.alloc(4L * x.length, "x"), xb = ops.alloc(2L * x.length, "xb");
            DeviceBuffer wb = ops.alloc(2L * w.length, "w"), y = ops.alloc(4L * N * OUT, "y");
            ops.upload(a.allocateFrom(JAVA_FLOAT, x), xf, 0);
            short[] bits = new short[w.length];
            for (int i = 0; i < w.length; i++) bits[i] = HostOps.toBf16Bits(w[i]);
            ops.upload(a.allocateFrom(JAVA_SHORT, bits), wb, 0);
            ops.toBf16(xf, xb, x.length);
            ops.linear(N, OUT, IN, wb, 0, xb, 0, y, 0, OUT, false);
            MemorySegment out = a.allocate(4L * N * OUT);
            ops.download(y, 0, out);
            MemorySegment narrow = a.allocate(2L * x.length);
            ops.download(xb, 0, narrow);
            assertEquals(HostOps.toBf16Bits(x[1]), narrow.getAtIndex(JAVA_SHORT, 1), "the BF16 bits stay rounded");
            return out.toArray(JAVA_FLOAT);
        }
    }

    /** Causal attention of one sequence, one head, rows [q | k | v] of {@code 3·dim}. */
    private static float[] attention(HostOps.Rounding rounding, float[] qkv, int tokens, int dim) {
        try (HostOps ops = new HostOps(1L << 24).rounding(rounding); Arena a = Arena.ofConfined()) {
            DeviceBuffer q = ops.alloc(4L * qkv.length, "qkv"), out = ops.alloc(4L * tokens * dim, "out");
            DeviceBuffer starts = ops.alloc(8, "starts");
            ops.upload(a.allocateFrom(JAVA_FLOAT, qkv), q, 0);
            ops.upload(a.allocateFrom(JAVA_INT, 0, tokens), starts, 0);
            ops.attention(q, 0, 3 * dim, q, 4L * dim, 3 * dim, q, 8L * dim, 3 * dim, out, starts, 1, tokens, 1, 1,
                    dim, dim, 0.35f, 0, null);
            MemorySegment o = a.allocate(4L * tokens * dim);
            ops.download(out, 0, o);
            float[] result = o.toArray(JAVA_FLOAT);
            assertNotEquals(0, result.length);
            return result;
        }
    }

    private static float bf16(float v) {
        return Float.intBitsToFloat((HostOps.toBf16Bits(v) & 0xFFFF) << 16);
    }
}
