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

    /** A 2-D matrix kept mapped in its stored dtype (F32, BF16 or F16). */
    public Weights matrix(String name) {
        Tensor t = checkpoint.tensor(name);
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw MoepruneException.inFile(checkpoint.shardOf(name).path(), "tensor '" + name + "' is " + t.dtype()
                    + "; the runtime computes on F32, BF16 and F16 weights only");
        }
        return Weights.of(t);
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
