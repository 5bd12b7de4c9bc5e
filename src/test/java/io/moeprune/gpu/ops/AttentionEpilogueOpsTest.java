package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static io.moeprune.gpu.ops.HostBuffers.assertOnlyHeadsMoved;
import static io.moeprune.gpu.ops.HostBuffers.floats;
import static io.moeprune.gpu.ops.HostBuffers.shorts;
import static io.moeprune.gpu.ops.HostBuffers.upload;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * HostOps's operations of the fused attention epilogue ({@code -Dmoeprune.fusedAttentionEpilogue}) against the
 * sequences they replace, bit for bit: rmsNormHeadsRope against rmsNormHeads then rope (the elements outside the heads
 * untouched), attentionBf16 against attention then toBf16 (its F32 rows untouched), and linear accumulating into y
 * against the product into a buffer then addScaled(y, ·, 1).
 */
class AttentionEpilogueOpsTest {
    @Test
    void normsWithRopeEqualNormsThenRopeBitForBit() {
        // {rows, heads, headDim, rowStride, element offset, rotaryDim, interleaved}: Qwen3's q and k of a fused
        // [q | k | v] row; a partial rotary dimension; interleaved pairs; one head of 128 alone in its row.
        int[][] shapes = {{7, 4, 16, 4 * 16 + 2 * 2 * 16, 0, 16, 0}, {7, 2, 16, 4 * 16 + 2 * 2 * 16, 4 * 16, 16, 0},
                {5, 3, 32, 200, 9, 16, 0}, {5, 3, 32, 200, 9, 32, 1}, {3, 1, 128, 128, 0, 128, 0}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], headDim = s[2], stride = s[3], rotary = s[5];
            long offset = 4L * s[4];
            boolean interleaved = s[6] == 1;
            float scale = interleaved ? 1.2f : 1f;
            Random r = new Random(21);
            float[] x = gaussian(r, rows * stride, 3), w = new float[headDim], inv = new float[rotary / 2];
            for (int i = 0; i < w.length; i++) w[i] = 1 + (float) r.nextGaussian() / 4;
            for (int i = 0; i < inv.length; i++) inv[i] = (float) Math.pow(1_000_000, -2.0 * i / rotary);
            int[] positions = new int[rows];
            for (int t = 0; t < rows; t++) positions[t] = t == 1 ? 40_000 : t;
            try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
                DeviceBuffer twoPasses = upload(ops, a, x), onePass = upload(ops, a, x), weight = upload(ops, a, w);
                DeviceBuffer invFreq = upload(ops, a, inv), pos = ops.alloc(4L * rows, "positions");
                ops.upload(a.allocateFrom(JAVA_INT, positions), pos, 0);
                ops.rmsNormHeads(twoPasses, offset, rows, heads, headDim, stride, weight, 1e-6f);
                ops.rope(twoPasses, offset, rows, stride, heads, headDim, 0, rotary, pos, invFreq, scale, interleaved);
                ops.rmsNormHeadsRope(onePass, offset, rows, heads, headDim, stride, weight, 1e-6f, pos, invFreq, rotary,
                        scale, interleaved);
                float[] expected = floats(ops, a, twoPasses, x.length), got = floats(ops, a, onePass, x.length);
                String shape = rows + "x" + heads + "x" + headDim + " stride " + stride + " rotary " + rotary
                        + (interleaved ? " interleaved" : "");
                assertArrayEquals(expected, got, shape);
                assertOnlyHeadsMoved(x, got, rows, stride, s[4], s[4] + heads * headDim, shape);
            }
        }
    }

    @Test
    void bf16AttentionRowsAreToBf16OfTheF32RowsBitForBit() {
        int[] starts = {0, 5, 6, 19};
        int tokens = 19, heads = 4, kvHeads = 2, dim = 16, stride = (heads + 2 * kvHeads) * dim + 3;
        long kAt = 4L * heads * dim, vAt = kAt + 4L * kvHeads * dim;
        long outCount = (long) tokens * heads * dim;
        Random r = new Random(22);
        float[] sinks = gaussian(r, heads, 2);
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            DeviceBuffer qkv = upload(ops, a, gaussian(r, tokens * stride, 1)), sinkBuffer = upload(ops, a, sinks);
            DeviceBuffer st = ops.alloc(4L * starts.length, "starts");
            ops.upload(a.allocateFrom(JAVA_INT, starts), st, 0);
            for (int window : new int[]{0, 4}) {
                for (DeviceBuffer sink : new DeviceBuffer[]{null, sinkBuffer}) {
                    DeviceBuffer f32 = ops.alloc(4 * outCount, "F32 rows"), bf16 = ops.alloc(2 * outCount, "BF16");
                    ops.attention(qkv, 0, stride, qkv, kAt, stride, qkv, vAt, stride, f32, st, 3, tokens, heads,
                            kvHeads, dim, dim, 0.25f, window, sink);
                    ops.toBf16(f32, bf16, outCount);
                    short[] expected = shorts(ops, a, bf16, outCount);
                    DeviceBuffer untouched = ops.alloc(4 * outCount, "F32 rows"), direct = ops.alloc(2 * outCount,
                            "BF16");
                    float[] poison = floats(ops, a, untouched, outCount);
                    ops.attentionBf16(qkv, 0, stride, qkv, kAt, stride, qkv, vAt, stride, untouched, direct, st, 3,
                            tokens, heads, kvHeads, dim, dim, 0.25f, window, sink);
                    String check = "window " + window + (sink == null ? "" : " sinks");
                    assertArrayEquals(expected, shorts(ops, a, direct, outCount), check);
                    assertArrayEquals(poison, floats(ops, a, untouched, outCount), check + ": F32 rows not written");
                }
            }
        }
    }

    @Test
    void accumulatingIntoYEqualsTheProductThenAddScaledBitForBit() {
        int n = 6, out = 24, in = 40;
        Random r = new Random(23);
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            DeviceBuffer w = ops.alloc(4L * out * in, "W"), x = ops.alloc(4L * n * in, "x");
            ops.toBf16(upload(ops, a, gaussian(r, out * in, 1)), w, (long) out * in);
            ops.toBf16(upload(ops, a, gaussian(r, n * in, 1)), x, (long) n * in);
            float[] y = gaussian(r, n * out, 10);
            DeviceBuffer twoPasses = upload(ops, a, y), onePass = upload(ops, a, y), branch = ops.alloc(4L * n * out,
                    "branch");
            ops.linear(n, out, in, w, 0, x, 0, branch, 0, out, false);
            ops.addScaled(twoPasses, 0, branch, 0, (long) n * out, 1f);
            ops.linear(n, out, in, w, 0, x, 0, onePass, 0, out, true);
            float[] expected = floats(ops, a, twoPasses, n * out);
            assertArrayEquals(expected, floats(ops, a, onePass, n * out));
            assertNotEquals(y[0], expected[0], "the product moved y");
        }
    }

    private static float[] gaussian(Random r, int count, double sigma) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float) (r.nextGaussian() * sigma);
        return v;
    }
}
