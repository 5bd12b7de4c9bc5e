package io.moeprune.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a vector's lanes as a tree in registers: v + v rotated by L/2 lanes, then by L/4, ..., 1, so lane 0 holds
 * the sum. C2 reduces a float vector lane by lane in order (16 dependent adds with AVX-512); on short rows (an expert's
 * down projection: 256 columns, 16 vectors with AVX-512) that was a third of a decode dot product's time: 7.5 → 11.1
 * GB/s per core for [2048 × 256] BF16 on an AVX2 core (session 5). Folding halves with reinterpretShape was as fast
 * there but allocated a box per call. Only for the Vector API paths (callers that already need the module).
 */
public final class LaneSums {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Lane rotations by 8, 4, 2 and 1 (null where not below L). */
    private static final VectorShuffle<Float> ROTATE_8 = rotation(8), ROTATE_4 = rotation(4), ROTATE_2 = rotation(2),
            ROTATE_1 = rotation(1);

    private LaneSums() {
    }

    private static VectorShuffle<Float> rotation(int by) {
        return by < L ? VectorShuffle.fromOp(F, i -> (i + by) % L) : null;
    }

    /** The sum of the lanes of v (a vector of the preferred species). */
    public static float sum(FloatVector v) {
        if (L > 16) return v.reduceLanes(VectorOperators.ADD);   // wider than any x86 vector: no tree written for it
        if (ROTATE_8 != null) v = v.add(v.rearrange(ROTATE_8));
        if (ROTATE_4 != null) v = v.add(v.rearrange(ROTATE_4));
        if (ROTATE_2 != null) v = v.add(v.rearrange(ROTATE_2));
        if (ROTATE_1 != null) v = v.add(v.rearrange(ROTATE_1));
        return v.lane(0);
    }

    /**
     * {@link #sum} of the L lanes stored at t[off, off + L), added in the same tree, so the same float (for L ≤ 16):
     * for kernels with more accumulators than C2 inlines LaneSums trees for (eight trees passed its node budget and
     * boxed a vector per call). Overwrites those lanes.
     */
    static float sumOfStored(float[] t, int off) {
        for (int h = L / 2; h >= 1; h /= 2) {
            for (int j = 0; j < h; j++) t[off + j] += t[off + j + h];
        }
        return t[off];
    }

    /** Whether {@link #sumOfStored} adds as {@link #sum} does (vectors of at most 16 lanes). */
    static boolean treeOfStoredMatches() {
        return L <= 16;
    }
}
