package io.moeprune.safetensors;

import io.moeprune.MoepruneException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

/**
 * A tensor as the model sees it, whatever its storage: a plain tensor, an FP8 weight with block scales
 * (DeepSeek-V3 {@code X.weight} + {@code X.weight_scale_inv}) or an MXFP4 pair (gpt-oss {@code P_blocks} +
 * {@code P_scales}). Every kind decodes any range of its flat, row-major elements to float, so inspection and
 * reference paths need not know how a checkpoint was quantised; fast kernels can still match on the record and
 * use the stored parts directly.
 */
public sealed interface LogicalTensor permits LogicalTensor.Plain, LogicalTensor.Fp8Blocks, LogicalTensor.Mxfp4 {

    /** How the values are stored. */
    enum Encoding { PLAIN, FP8_BLOCK_SCALED, MXFP4 }

    /** The logical name (for MXFP4, the stored names without {@code _blocks}/{@code _scales}). */
    String name();

    /** The logical shape (for MXFP4 the last dimension is groups x 32). */
    long[] shape();

    Encoding encoding();

    /** The stored tensors this one is made of, main part first (weight then scales; blocks then scales). */
    List<Tensor> parts();

    /**
     * Decodes {@code len} elements starting at flat index {@code start} into {@code dst[off..off+len)}.
     * Indices outside the tensor throw {@link IndexOutOfBoundsException} (a programming error, not bad input).
     */
    void readFloats(long start, float[] dst, int off, int len);

    default long elementCount() {
        long n = 1;
        for (long d : shape()) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Bytes on disk, companions included. */
    default long storedBytes() {
        long n = 0;
        for (Tensor t : parts()) n += t.info().byteSize();
        return n;
    }

    /** The stored dtype of the main part (F8_E4M3 for FP8 weights, U8 for MXFP4 blocks). */
    default DType storedDType() {
        return parts().getFirst().dtype();
    }

    /** A short label for listings, e.g. {@code BF16}, {@code F8_E4M3 (128x128 block scales)}, {@code MXFP4}. */
    String dtypeLabel();

    default float getFloat(long i) {
        float[] one = new float[1];
        readFloats(i, one, 0, 1);
        return one[0];
    }

    /** The whole tensor decoded (for small tensors and tests). */
    default float[] toFloatArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw MoepruneException.inFile(parts().getFirst().file(), "tensor '" + name() + "' has " + n
                    + " elements, too many for one array");
        }
        float[] out = new float[(int) n];
        readFloats(0, out, 0, (int) n);
        return out;
    }

    private static void checkRange(LogicalTensor t, long start, float[] dst, int off, int len) {
        if (start < 0 || len < 0 || start > t.elementCount() - len || off < 0 || off > dst.length - len) {
            throw new IndexOutOfBoundsException("elements " + start + "+" + len + " into float[" + dst.length + "]@"
                    + off + " of " + t.name() + Arrays.toString(t.shape()));
        }
    }

    /** A tensor stored as it is (any dtype; integers decode to their value as float). */
    record Plain(Tensor tensor) implements LogicalTensor {
        @Override
        public String name() {
            return tensor.name();
        }

        @Override
        public long[] shape() {
            return tensor.shape().clone();
        }

        @Override
        public Encoding encoding() {
            return Encoding.PLAIN;
        }

        @Override
        public List<Tensor> parts() {
            return List.of(tensor);
        }

        @Override
        public String dtypeLabel() {
            return tensor.dtype().name();
        }

        @Override
        public long elementCount() {
            return tensor.elementCount();
        }

        @Override
        public void readFloats(long start, float[] dst, int off, int len) {
            checkRange(this, start, dst, off, len);
            tensor.readFloats(start, dst, off, len);
        }
    }

    /**
     * FP8 weight {@code [..., R, C]} with inverse scales {@code [..., ceil(R/br), ceil(C/bc)]} (one per block), or
     * one scale for the whole tensor (shape {@code []} or all ones): value = fp8 x scale_inv[r/br, c/bc].
     */
    record Fp8Blocks(String name, Tensor weight, Tensor scaleInv, int blockRows, int blockCols) implements LogicalTensor {
        public boolean perTensorScale() {
            return scaleInv.elementCount() == 1;
        }

        @Override
        public long[] shape() {
            return weight.shape().clone();
        }

        @Override
        public Encoding encoding() {
            return Encoding.FP8_BLOCK_SCALED;
        }

        @Override
        public List<Tensor> parts() {
            return List.of(weight, scaleInv);
        }

        @Override
        public String dtypeLabel() {
            return weight.dtype() + (perTensorScale() ? " (per-tensor scale)"
                    : " (" + blockRows + "x" + blockCols + " block scales)");
        }

        @Override
        public long elementCount() {
            return weight.elementCount();
        }

        @Override
        public void readFloats(long start, float[] dst, int off, int len) {
            checkRange(this, start, dst, off, len);
            MemorySegment data = weight.data();
            boolean e4m3 = weight.dtype() == DType.F8_E4M3;
            if (perTensorScale()) {
                float s = scaleInv.getFloat(0);
                for (int k = 0; k < len; k++) {
                    byte b = data.get(ValueLayout.JAVA_BYTE, start + k);
                    dst[off + k] = (e4m3 ? Fp8.e4m3ToFloat(b) : Fp8.e5m2ToFloat(b)) * s;
                }
                return;
            }
            long[] s = weight.shape();
            long rows = s[s.length - 2], cols = s[s.length - 1];
            long[] ss = scaleInv.shape();
            long scaleRows = ss[ss.length - 2], scaleCols = ss[ss.length - 1];
            long i = start;
            int k = 0;
            while (k < len) {
                // Decode one run of elements that share a scale: up to the end of the block's columns.
                long matrix = i / (rows * cols), r = (i / cols) % rows, c = i % cols;
                float scale = scaleInv.getFloat((matrix * scaleRows + r / blockRows) * scaleCols + c / blockCols);
                long blockEnd = Math.min(cols, (c / blockCols + 1) * blockCols);
                int n = (int) Math.min(len - k, blockEnd - c);
                for (int j = 0; j < n; j++) {
                    byte b = data.get(ValueLayout.JAVA_BYTE, i + j);
                    dst[off + k + j] = (e4m3 ? Fp8.e4m3ToFloat(b) : Fp8.e5m2ToFloat(b)) * scale;
                }
                k += n;
                i += n;
            }
        }
    }

    /**
     * gpt-oss MXFP4: {@code blocks} U8 {@code [..., G, 16]} hold 32 FP4 (E2M1) values per group, low nibble first;
     * {@code scales} U8 {@code [..., G]} are E8M0 exponents. Logical shape {@code [..., G*32]};
     * value = lut[nibble] x 2^(scale-127).
     */
    record Mxfp4(String name, Tensor blocks, Tensor scales) implements LogicalTensor {
        @Override
        public long[] shape() {
            long[] b = blocks.shape();
            long[] s = Arrays.copyOf(b, b.length - 1);
            s[s.length - 1] = b[b.length - 2] * 32;
            return s;
        }

        @Override
        public long elementCount() {
            return blocks.elementCount() * 2;
        }

        @Override
        public Encoding encoding() {
            return Encoding.MXFP4;
        }

        @Override
        public List<Tensor> parts() {
            return List.of(blocks, scales);
        }

        @Override
        public String dtypeLabel() {
            return "MXFP4";
        }

        @Override
        public void readFloats(long start, float[] dst, int off, int len) {
            checkRange(this, start, dst, off, len);
            MemorySegment b = blocks.data(), sc = scales.data();
            // Element i lives in byte i/2 (groups of 32 values are 16 consecutive bytes) and uses scale i/32.
            long i = start;
            int k = 0;
            while (k < len) {
                float scale = Fp4.e8m0ToFloat(sc.get(ValueLayout.JAVA_BYTE, i >>> 5));
                int n = (int) Math.min(len - k, 32 - (i & 31));
                for (int j = 0; j < n; j++, i++) {
                    int packed = b.get(ValueLayout.JAVA_BYTE, i >>> 1);
                    dst[off + k + j] = Fp4.e2m1ToFloat((i & 1) == 0 ? packed : packed >>> 4) * scale;
                }
                k += n;
            }
        }
    }
}
