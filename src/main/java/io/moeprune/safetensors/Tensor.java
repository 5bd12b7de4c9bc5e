package io.moeprune.safetensors;

import io.moeprune.MoepruneException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A typed, zero-copy view of one tensor's bytes inside a mapped shard. Element accessors decode the stored
 * dtype to float or long; bulk readers fill caller-owned arrays so hot loops allocate nothing.
 */
public record Tensor(TensorInfo info, MemorySegment data, Path file) {
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public String name() {
        return info.name();
    }

    public DType dtype() {
        return info.dtype();
    }

    public long[] shape() {
        return info.shape();
    }

    public long elementCount() {
        return info.elementCount();
    }

    /** Element {@code i} (flat, row-major) of a floating tensor as float. */
    public float getFloat(long i) {
        return switch (info.dtype()) {
            case F32 -> data.get(FLOAT, i * 4);
            case BF16 -> Float.intBitsToFloat((data.get(SHORT, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT, i * 2));
            case F64 -> (float) data.get(DOUBLE, i * 8);
            case F8_E4M3 -> Fp8.e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> Fp8.e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case I16 -> data.get(SHORT, i * 2);
            case I32 -> data.get(INT, i * 4);
            case I64 -> data.get(LONG, i * 8);
        };
    }

    /** Element {@code i} of an integer or boolean tensor as long. */
    public long getLong(long i) {
        return switch (info.dtype()) {
            case I64 -> data.get(LONG, i * 8);
            case I32 -> data.get(INT, i * 4);
            case I16 -> data.get(SHORT, i * 2);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> (long) getFloat(i);
        };
    }

    /** Decodes {@code len} elements starting at flat index {@code start} into {@code dst[off..]}. */
    public void readFloats(long start, float[] dst, int off, int len) {
        if (start < 0 || start + len > elementCount()) {
            throw new IndexOutOfBoundsException("elements " + start + "+" + len + " of " + info);
        }
        switch (info.dtype()) {
            case F32 -> MemorySegment.copy(data, FLOAT, start * 4, dst, off, len);
            case BF16 -> {
                for (int k = 0; k < len; k++) {
                    dst[off + k] = Float.intBitsToFloat((data.get(SHORT, (start + k) * 2) & 0xffff) << 16);
                }
            }
            case F16 -> {
                for (int k = 0; k < len; k++) dst[off + k] = Float.float16ToFloat(data.get(SHORT, (start + k) * 2));
            }
            default -> {
                for (int k = 0; k < len; k++) dst[off + k] = getFloat(start + k);
            }
        }
    }

    /** The whole tensor decoded to float (for small tensors: norms, biases, routers, test references). */
    public float[] toFloatArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw MoepruneException.inFile(file, "tensor '" + name() + "' has " + n + " elements, too many for one array");
        }
        float[] out = new float[(int) n];
        readFloats(0, out, 0, (int) n);
        return out;
    }

    public long[] toLongArray() {
        long n = elementCount();
        long[] out = new long[Math.toIntExact(n)];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }
}
