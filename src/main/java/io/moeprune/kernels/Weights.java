package io.moeprune.kernels;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * A row-major weight matrix [rows, cols] left in its stored dtype inside the mapped checkpoint. Kernels decode
 * it on the fly; nothing converts a whole model to F32.
 */
public record Weights(MemorySegment data, DType dtype, int rows, int cols) {
    public Weights {
        if ((long) rows * cols * dtype.byteSize() != data.byteSize()) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is not [" + rows + ", " + cols
                    + "] of " + dtype);
        }
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
}
