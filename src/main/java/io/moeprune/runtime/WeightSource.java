package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Tensor;

/** Looks up the tensors a model needs by name, with one-line errors naming the checkpoint and tensor. */
public record WeightSource(Checkpoint checkpoint) {

    public boolean has(String name) {
        return name != null && checkpoint.has(name);
    }

    public Tensor tensor(String name) {
        return checkpoint.tensor(name);
    }

    /**
     * A 2-D matrix kept mapped in its stored dtype (F32, BF16 or F16; FP8 E4M3 with its {@code _scale_inv}
     * block scales, or one per-tensor scale given as a scalar, when the checkpoint has them).
     */
    public Weights matrix(String name) {
        Tensor t = checkpoint.tensor(name);
        if (t.dtype() == DType.F8_E4M3) return fp8(t, name + "_scale_inv");
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw MoepruneException.inFile(checkpoint.shardOf(name).path(), "tensor '" + name + "' is " + t.dtype()
                    + "; the runtime computes on F32, BF16 and F16 weights only");
        }
        return Weights.of(t);
    }

    private Weights fp8(Tensor t, String scaleName) {
        Weights plain = Weights.of(t);
        if (!checkpoint.has(scaleName)) return plain;
        Tensor scale = checkpoint.tensor(scaleName);
        if (scale.elementCount() == 1) {
            float[] blocks = new float[Weights.scaleRows(plain.rows()) * Weights.scaleRows(plain.cols())];
            java.util.Arrays.fill(blocks, scale.getFloat(0));
            return new Weights(plain.data(), plain.dtype(), plain.rows(), plain.cols(), blocks);
        }
        return Weights.blockScaled(t, scale);
    }

    /** A linear layer: matrix {@code name} plus its bias {@code biasName} when that is non-null. */
    public Linear linear(String name, String biasName) {
        return new Linear(matrix(name), biasName == null ? null : vector(biasName));
    }

    /** A small tensor (norm weight, bias) decoded to F32. */
    public float[] vector(String name) {
        return checkpoint.tensor(name).toFloatArray();
    }

    /** A vector of the expected length. */
    public float[] vector(String name, int length) {
        float[] v = vector(name);
        if (v.length != length) {
            throw MoepruneException.inFile(checkpoint.shardOf(name).path(), "tensor '" + name + "' has " + v.length
                    + " elements, expected " + length);
        }
        return v;
    }
}
