package io.moeprune.kernels;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.Fp4;
import io.moeprune.safetensors.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A row-major MXFP4 matrix [rows, cols] left in the mapped checkpoint, as gpt-oss stores its experts: each row is
 * cols / 32 groups of 32 FP4 (E2M1) values, two per byte with the even element in the low nibble ({@code blocks}, 16
 * bytes per group), and one E8M0 exponent per group ({@code scales}): W[r, c] = E2M1(nibble) · 2^(scale − 127) ({@link Fp4}).
 *
 * <p>Products read the input <em>deinterleaved</em> ({@link #deinterleave}): per group, its 16 even elements and then
 * its 16 odd ones, which is the order a group's low and then high nibbles come in, so a vector kernel multiplies the
 * nibbles of consecutive bytes with consecutive inputs.
 */
public record Mxfp4Matrix(MemorySegment blocks, MemorySegment scales, int rows, int cols) {
    /** Elements per group (one scale). */
    public static final int GROUP = 32;
    /** Bytes of FP4 values per group. */
    public static final int GROUP_BYTES = GROUP / 2;

    public Mxfp4Matrix {
        if (cols % GROUP != 0) throw new IllegalArgumentException(cols + " columns are not whole groups of 32");
        long groups = (long) rows * (cols / GROUP);
        if (blocks.byteSize() != groups * GROUP_BYTES || scales.byteSize() != groups) {
            throw new IllegalArgumentException("MXFP4 [" + rows + ", " + cols + "] needs " + groups * GROUP_BYTES
                    + " bytes of blocks and " + groups + " scales, not " + blocks.byteSize() + " and " + scales.byteSize());
        }
    }

    /**
     * Matrix {@code index} of a stored pair: {@code blocks} U8 [n, rows, cols/32, 16] and {@code scales} U8 [n, rows,
     * cols/32] (gpt-oss's {@code *_blocks} / {@code *_scales}), a view into the mapped tensors.
     */
    public static Mxfp4Matrix slice(Tensor blocks, Tensor scales, int index) {
        long[] b = blocks.shape(), s = scales.shape();
        if (b.length != 4 || b[3] != GROUP_BYTES || s.length != 3 || b[0] != s[0] || b[1] != s[1] || b[2] != s[2]) {
            throw MoepruneException.inFile(blocks.file(), "MXFP4 pair '" + blocks.name() + "' " + Arrays.toString(b)
                    + " / '" + scales.name() + "' " + Arrays.toString(s) + " is not [n, rows, groups, 16] / [n, rows, groups]");
        }
        long groups = b[1] * b[2];
        return new Mxfp4Matrix(blocks.data().asSlice(index * groups * GROUP_BYTES, groups * GROUP_BYTES),
                scales.data().asSlice(index * groups, groups), Math.toIntExact(b[1]), Math.toIntExact(b[2] * GROUP));
    }

    /** The same matrix read from copies of its blocks and scales (segments of the same sizes; resident experts). */
    public Mxfp4Matrix over(MemorySegment blocksCopy, MemorySegment scalesCopy) {
        return new Mxfp4Matrix(blocksCopy, scalesCopy, rows, cols);
    }

    public int groupsPerRow() {
        return cols / GROUP;
    }

    /** Bytes of the stored matrix (values and scales). */
    public long byteSize() {
        return blocks.byteSize() + scales.byteSize();
    }

    /** The scale of group g of row r ({@link Fp4#e8m0ToFloat}). */
    public float scale(int r, int g) {
        return Fp4.e8m0ToFloat(scales.get(ValueLayout.JAVA_BYTE, (long) r * groupsPerRow() + g));
    }

    /** x[xOff, xOff + cols) in the order products read it: per group of 32, the even elements, then the odd ones. */
    public static float[] deinterleave(float[] x, int xOff, int cols) {
        float[] d = new float[cols];
        for (int g = 0; g < cols; g += GROUP) {
            for (int i = 0; i < GROUP_BYTES; i++) {
                d[g + i] = x[xOff + g + 2 * i];
                d[g + GROUP_BYTES + i] = x[xOff + g + 2 * i + 1];
            }
        }
        return d;
    }

    /**
     * Rows [r0, r1) decoded to F32 in the order products read them ({@link #deinterleave}: per group, the 16 even
     * columns, then the 16 odd ones): dst[(r − r0) · cols + g · 32 + i] = W[r, g · 32 + 2i] and
     * dst[(r − r0) · cols + g · 32 + 16 + i] = W[r, g · 32 + 2i + 1]. The scalar reference of
     * {@link Kernels#mxfp4DecodeRows}.
     */
    public void decodeRows(int r0, int r1, float[] dst) {
        int groups = groupsPerRow();
        for (int r = r0; r < r1; r++) {
            for (int g = 0; g < groups; g++) {
                float scale = scale(r, g);
                long b = ((long) r * groups + g) * GROUP_BYTES;
                int o = (r - r0) * cols + g * GROUP;
                for (int i = 0; i < GROUP_BYTES; i++) {
                    int packed = blocks.get(ValueLayout.JAVA_BYTE, b + i);
                    dst[o + i] = Fp4.e2m1ToFloat(packed) * scale;
                    dst[o + GROUP_BYTES + i] = Fp4.e2m1ToFloat(packed >>> 4) * scale;
                }
            }
        }
    }

    /**
     * out[outOff + r − r0] = Σ_c W[r, c] · x[c] for rows [r0, r1), with xd = {@link #deinterleave}(x): the scalar
     * reference of {@link Kernels#mxfp4Rows}. Each group's products are summed, then scaled, then added to the row's sum.
     */
    public void dotRows(int r0, int r1, float[] xd, float[] out, int outOff) {
        int groups = groupsPerRow();
        for (int r = r0; r < r1; r++) {
            float sum = 0;
            for (int g = 0; g < groups; g++) {
                long b = ((long) r * groups + g) * GROUP_BYTES;
                int x = g * GROUP;
                float part = 0;
                for (int i = 0; i < GROUP_BYTES; i++) {
                    int packed = blocks.get(ValueLayout.JAVA_BYTE, b + i);
                    part += Fp4.e2m1ToFloat(packed) * xd[x + i] + Fp4.e2m1ToFloat(packed >>> 4) * xd[x + GROUP_BYTES + i];
                }
                sum += part * scale(r, g);
            }
            out[outOff + r - r0] = sum;
        }
    }
}
