package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * HostOps's rmsNormHeads (the per-head q/k norms in one launch) against the loop it replaces, one strided rmsNorm per
 * head: bit-identical, the elements outside the heads (k and v beside q in the fused row) untouched.
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
                float[] expected = download(ops, a, loop, x.length), got = download(ops, a, fused, x.length);
                String shape = rows + "x" + heads + "x" + headDim + " stride " + stride;
                assertArrayEquals(expected, got, shape);
                // The heads were normalised (the loop moved them) and nothing else moved.
                int first = s[4], last = first + heads * headDim;
                for (int t = 0; t < rows; t++) {
                    for (int i = 0; i < stride; i++) {
                        int e = t * stride + i;
                        if (i >= first && i < last) assertNotEquals(x[e], got[e], shape + " element " + e);
                        else assertEquals(x[e], got[e], shape + " element " + e + " outside the heads");
                    }
                }
            }
        }
    }

    private static DeviceBuffer upload(HostOps ops, Arena a, float[] values) {
        DeviceBuffer b = ops.alloc(4L * values.length, "rows");
        ops.upload(a.allocateFrom(JAVA_FLOAT, values), b, 0);
        return b;
    }

    private static float[] download(HostOps ops, Arena a, DeviceBuffer b, int count) {
        MemorySegment s = a.allocate(4L * count);
        ops.download(b, 0, s);
        return s.toArray(JAVA_FLOAT);
    }
}
