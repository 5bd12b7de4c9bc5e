package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static io.moeprune.gpu.ops.HostBuffers.assertOnlyHeadsMoved;
import static io.moeprune.gpu.ops.HostBuffers.floats;
import static io.moeprune.gpu.ops.HostBuffers.shorts;
import static io.moeprune.gpu.ops.HostBuffers.upload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * HostOps's fused prologue operations against what they replace, bit for bit: rmsNormHeads (the per-head q/k norms
 * in one launch) against one strided rmsNorm per head, the elements outside the heads (k and v beside q in the fused
 * row) untouched; rmsNormBf16 against rmsNorm then toBf16.
 */
class RmsNormHeadsTest {
    @Test
    void oneLaunchEqualsTheLoopOfOneNormPerHeadBitForBit() {
        // {rows, heads, headDim, rowStride, element offset}: q of 4 heads in a row with k and v after it; k's 2
        // heads from the middle of the row; one head of 128 (Qwen3's head dim) alone in its row.
        int[][] shapes = {{7, 4, 16, 4 * 16 + 2 * 2 * 16, 0}, {7, 2, 16, 4 * 16 + 2 * 2 * 16, 4 * 16},
                {3, 1, 128, 128, 0}, {1, 8, 32, 300, 13}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], headDim = s[2], stride = s[3];
            long offset = 4L * s[4];
            Random r = new Random(11);
            float[] x = new float[rows * stride], w = new float[headDim];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 3;
            for (int i = 0; i < w.length; i++) w[i] = 1 + (float) r.nextGaussian() / 4;
            try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
                DeviceBuffer loop = upload(ops, a, x), fused = upload(ops, a, x), weight = upload(ops, a, w);
                for (int h = 0; h < heads; h++) {
                    long at = offset + 4L * h * headDim;
                    ops.rmsNorm(loop, at, loop, at, rows, headDim, stride, weight, 1e-6f);
                }
                ops.rmsNormHeads(fused, offset, rows, heads, headDim, stride, weight, 1e-6f);
                float[] expected = floats(ops, a, loop, x.length), got = floats(ops, a, fused, x.length);
                String shape = rows + "x" + heads + "x" + headDim + " stride " + stride;
                assertArrayEquals(expected, got, shape);
                // The heads were normalised (the loop moved them) and nothing else moved.
                assertOnlyHeadsMoved(x, got, rows, stride, s[4], s[4] + heads * headDim, shape);
            }
        }
    }

    @Test
    void normToBf16InOnePassEqualsRmsNormThenToBf16BitForBit() {
        int rows = 5, width = 96;
        Random r = new Random(12);
        float[] x = new float[rows * width], w = new float[width];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 3;
        for (int i = 0; i < w.length; i++) w[i] = 1 + (float) r.nextGaussian() / 4;
        try (HostOps ops = new HostOps(1L << 24); Arena a = Arena.ofConfined()) {
            DeviceBuffer src = upload(ops, a, x), weight = upload(ops, a, w);
            DeviceBuffer f32 = ops.alloc(4L * rows * width, "f32"), bf16 = ops.alloc(2L * rows * width, "bf16");
            ops.rmsNorm(src, 0, f32, 0, rows, width, width, weight, 1e-6f);
            ops.toBf16(f32, bf16, (long) rows * width);
            float[] expectedF32 = floats(ops, a, f32, rows * width);
            short[] expectedBf16 = shorts(ops, a, bf16, rows * width);
            DeviceBuffer oneF32 = ops.alloc(4L * rows * width, "f32"), oneBf16 = ops.alloc(2L * rows * width, "bf16");
            ops.rmsNormBf16(src, oneF32, oneBf16, rows, width, weight, 1e-6f);
            assertArrayEquals(expectedF32, floats(ops, a, oneF32, rows * width), "F32 rows");
            assertArrayEquals(expectedBf16, shorts(ops, a, oneBf16, rows * width), "BF16 rows");
            DeviceBuffer onlyBf16 = ops.alloc(2L * rows * width, "bf16");
            ops.rmsNormBf16(src, null, onlyBf16, rows, width, weight, 1e-6f);
            assertArrayEquals(expectedBf16, shorts(ops, a, onlyBf16, rows * width), "BF16 rows without F32");
            assertArrayEquals(x, floats(ops, a, src, rows * width), "the input untouched");
        }
    }
}
