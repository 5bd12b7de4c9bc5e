package io.moeprune.model;

import java.util.Arrays;

/**
 * One tensor that a checkpoint of a {@link ModelSpec} must contain.
 *
 * @param name       full tensor name
 * @param shape      expected shape
 * @param category   what the tensor is for
 * @param layer      decoder layer index, -1 for embeddings, LM head and final norm
 * @param parameters model parameters this tensor stores: its element count for plain weights, the number of
 *                   represented weights for MXFP4 blocks (two per byte), 0 for quantisation scales and
 *                   for DeepSeek-V3's {@code e_score_correction_bias} (a buffer in transformers)
 * @param scalarAccepted the checkpoint may hold a single scalar scale instead of {@code shape} (transformers'
 *                   FP8 quantiser writes per-expert scales as shape [] when one block covers the whole matrix)
 */
public record ExpectedTensor(String name, long[] shape, TensorCategory category, int layer, long parameters,
                             boolean scalarAccepted) {

    public ExpectedTensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Whether a stored tensor of this shape satisfies the expectation. */
    public boolean accepts(long[] actual) {
        if (Arrays.equals(shape, actual)) return true;
        return scalarAccepted && actual.length == 0;
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpectedTensor t && name.equals(t.name) && Arrays.equals(shape, t.shape)
                && category == t.category && layer == t.layer && parameters == t.parameters
                && scalarAccepted == t.scalarAccepted;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + shapeString();
    }
}
