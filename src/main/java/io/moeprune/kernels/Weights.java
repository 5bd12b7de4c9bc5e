package io.moeprune.kernels;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * A row-major weight matrix [rows, cols] left in its stored dtype inside the mapped checkpoint. Kernels decode
 * it on the fly; nothing converts a whole model to F32.
 *
 * <p>F32, BF16 and F16 weights carry no scales ({@code blockScales == null}). F8_E4M3 weights may carry
 * DeepSeek-style block scales: {@code blockScales[(r / 128) · ceil(cols / 128) + c / 128]} multiplies every
 * element of the 128×128 block holding (r, c) (the checkpoint's {@code weight_scale_inv}); without scales an
 * FP8 element is its plain value.
 *
 * <p>Large products are split across {@link Parallel}'s threads, so {@code data} must be readable from any
 * thread: a mapped shard, or a global, automatic or shared arena (not a confined one).
 */
public record Weights(MemorySegment data, DType dtype, int rows, int cols, float[] blockScales) {
    /** Side of the square blocks that share one FP8 scale. */
    public static final int SCALE_BLOCK = 128;

    public Weights {
        if ((long) rows * cols * dtype.byteSize() != data.byteSize()) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is not [" + rows + ", " + cols
                    + "] of " + dtype);
        }
        if (blockScales != null) {
            if (dtype != DType.F8_E4M3) throw new IllegalArgumentException("block scales on " + dtype + " weights");
            long want = (long) scaleRows(rows) * scaleRows(cols);
            if (blockScales.length != want) {
                throw new IllegalArgumentException(blockScales.length + " block scales for [" + rows + ", " + cols
                        + "], expected " + want);
            }
        }
    }

    /** Unscaled weights (every dtype but scaled FP8). */
    public Weights(MemorySegment data, DType dtype, int rows, int cols) {
        this(data, dtype, rows, cols, null);
    }

    /** Number of scale blocks along a dimension of {@code n} elements. */
    public static int scaleRows(int n) {
        return (n + SCALE_BLOCK - 1) / SCALE_BLOCK;
    }

    /**
     * FP8 E4M3 weights with their scales, e.g. {@code w} = "...weight" and {@code scaleInv} = "...weight_scale_inv"
     * of a DeepSeek-V3 FP8 checkpoint (dequantized value = fp8 · scale): either 128×128 block scales of shape
     * [ceil(rows/128), ceil(cols/128)], or one per-tensor scale (shape [] or [1]), which is spread over the blocks.
     */
    public static Weights blockScaled(Tensor w, Tensor scaleInv) {
        if (w.dtype() != DType.F8_E4M3) {
            throw MoepruneException.inFile(w.file(), "tensor '" + w.name() + "' should be F8_E4M3 but is " + w.dtype());
        }
        Weights plain = of(w);
        int blocks = scaleRows(plain.rows) * scaleRows(plain.cols);
        long[] s = scaleInv.shape();
        float[] scales;
        if (scaleInv.elementCount() == 1 && s.length <= 1) {
            scales = new float[blocks];
            java.util.Arrays.fill(scales, scaleInv.getFloat(0));
        } else if (s.length == 2 && s[0] == scaleRows(plain.rows) && s[1] == scaleRows(plain.cols)) {
            scales = scaleInv.toFloatArray();
        } else {
            throw MoepruneException.inFile(scaleInv.file(), "tensor '" + scaleInv.name() + "' has shape "
                    + scaleInv.info().shapeString() + " but [" + scaleRows(plain.rows) + ", " + scaleRows(plain.cols)
                    + "] block scales or one scale are needed for '" + w.name() + "'");
        }
        return new Weights(plain.data, plain.dtype, plain.rows, plain.cols, scales);
    }

    /** The scale of the block holding row {@code r}, column {@code c} (1 without scales). */
    public float scaleAt(int r, int c) {
        return blockScales == null ? 1f : blockScales[(r / SCALE_BLOCK) * scaleRows(cols) + c / SCALE_BLOCK];
    }

    /** A 2-D tensor as weights. */
    public static Weights of(Tensor t) {
        if (t.shape().length != 2) {
            throw MoepruneException.inFile(t.file(), "tensor '" + t.name() + "' should be 2-D but has shape "
                    + t.info().shapeString());
        }
        return new Weights(t.data(), t.dtype(), Math.toIntExact(t.shape()[0]), Math.toIntExact(t.shape()[1]));
    }

    /** Matrix {@code index} of a 3-D tensor [n, rows, cols] (fused experts). */
    public static Weights slice(Tensor t, int index) {
        long[] s = t.shape();
        if (s.length != 3) {
            throw MoepruneException.inFile(t.file(), "tensor '" + t.name() + "' should be 3-D but has shape "
                    + t.info().shapeString());
        }
        long bytes = s[1] * s[2] * t.dtype().byteSize();
        return new Weights(t.data().asSlice(index * bytes, bytes), t.dtype(), Math.toIntExact(s[1]), Math.toIntExact(s[2]));
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** The same matrix (dtype, shape, scales) read from {@code copy}, a segment of the same size (resident experts). */
    public Weights over(MemorySegment copy) {
        return new Weights(copy, dtype, rows, cols, blockScales);
    }

    private static final java.lang.foreign.ValueLayout.OfShort SHORT_LE =
            java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfFloat FLOAT_LE =
            java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    /** Columns [c0, c1) of row r decoded to F32 (FP8 times its block scales): dst[off + c − c0] = W[r, c]. */
    public void readRow(int r, int c0, int c1, float[] dst, int off) {
        long base = (long) r * cols;
        int shift = off - c0;
        switch (dtype) {
            case F32 -> {
                for (int c = c0; c < c1; c++) dst[shift + c] = data.get(FLOAT_LE, (base + c) * 4);
            }
            case BF16 -> {
                for (int c = c0; c < c1; c++) dst[shift + c] = Float.intBitsToFloat((data.get(SHORT_LE, (base + c) * 2) & 0xffff) << 16);
            }
            case F16 -> {
                for (int c = c0; c < c1; c++) dst[shift + c] = Float.float16ToFloat(data.get(SHORT_LE, (base + c) * 2));
            }
            case F8_E4M3 -> {
                for (int c = c0; c < c1; c++) {
                    dst[shift + c] = io.moeprune.safetensors.Fp8.e4m3ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_BYTE,
                            base + c)) * scaleAt(r, c);
                }
            }
            default -> throw new UnsupportedOperationException("rows of " + dtype + " weights");
        }
    }

    /**
     * Reads one byte in every 64 of rows [r0, r1), into this core's caches ({@link Parallel#readAheadFor}); returns
     * their sum, so that the reads cannot be dropped.
     */
    public long readRows(int r0, int r1) {
        long rowBytes = (long) cols * dtype.byteSize(), end = r1 * rowBytes;
        long sum = 0;
        for (long o = r0 * rowBytes; o < end; o += 64) sum += data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o);
        return sum;
    }
}
