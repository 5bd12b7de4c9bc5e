package io.moeprune.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a vector's lanes as a tree in registers: v + v rotated by L/2 lanes, then by L/4, ..., 1, so lane 0 holds
 * the sum. C2 reduces a float vector lane by lane in order (16 dependent adds with AVX-512); on short rows (an expert's
 * down projection: 256 columns, 16 vectors with AVX-512) that was a third of a decode dot product's time: 7.5 → 11.1
 * GB/s per core for [2048 × 256] BF16 on an AVX2 core (2026-11-24). Folding halves with reinterpretShape was as fast
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

    /**
     * Eight vectors' {@link #sum}s at once, by pairing lanes across vectors instead of within each: the lanes of two
     * vectors' halves are gathered into one vector (a two-source permute) and added, so every add serves two, then
     * four, then eight rows; lane k·L/8 of the result holds a_k's sum, the same float as {@link #sum}(a_k) (the same
     * pairs are added at each level: lane i with lane i + w/2 of a row's w lanes). For L of 8 or 16 lanes
     * ({@link #eightAtOnce}). About 50 vector instructions for eight rows, against the 120 scalar adds (with their
     * loads and stores) of {@link #sumOfStored}, which on short rows (512 bytes) rivalled the row's own loads.
     */
    static FloatVector sumsOfEight(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3, FloatVector a4,
                                   FloatVector a5, FloatVector a6, FloatVector a7) {
        // Each shuffle a constant of its own: C2 makes a permute of a constant shuffle only (from an array element
        // it boxed every vector).
        FloatVector s01 = a0.rearrange(LOW_1, a1).add(a0.rearrange(HIGH_1, a1));
        FloatVector s23 = a2.rearrange(LOW_1, a3).add(a2.rearrange(HIGH_1, a3));
        FloatVector s45 = a4.rearrange(LOW_1, a5).add(a4.rearrange(HIGH_1, a5));
        FloatVector s67 = a6.rearrange(LOW_1, a7).add(a6.rearrange(HIGH_1, a7));
        FloatVector s0123 = s01.rearrange(LOW_2, s23).add(s01.rearrange(HIGH_2, s23));
        FloatVector s4567 = s45.rearrange(LOW_2, s67).add(s45.rearrange(HIGH_2, s67));
        FloatVector s = s0123.rearrange(LOW_4, s4567).add(s0123.rearrange(HIGH_4, s4567));
        return L == 16 ? s.add(s.rearrange(ROTATE_1)) : s;
    }

    /** Whether {@link #sumsOfEight} serves this species (8 or 16 lanes). */
    static boolean eightAtOnce() {
        return L == 8 || L == 16;
    }

    /**
     * For {@link #sumsOfEight}, where two vectors of m rows each (w = L/m lanes a row) meet: output lane r·w/2 + p is
     * lane p of row r (its low addend) or lane p + w/2 (its high addend), x's rows first, then y's (indices from L on
     * pick from the second vector).
     */
    private static final VectorShuffle<Float> LOW_1 = halves(1, 0), HIGH_1 = halves(1, 1), LOW_2 = halves(2, 0),
            HIGH_2 = halves(2, 1), LOW_4 = halves(4, 0), HIGH_4 = halves(4, 1);

    private static VectorShuffle<Float> halves(int m, int high) {
        if (!eightAtOnce()) return null;
        int w = L / m, half = w / 2;
        return VectorShuffle.fromOp(F, lane -> {
            int r = lane / half, p = lane % half;
            return (r < m ? r * w : L + (r - m) * w) + p + high * half;
        });
    }

    /** Whether {@link #sumOfStored} adds as {@link #sum} does (vectors of at most 16 lanes). */
    static boolean treeOfStoredMatches() {
        return L <= 16;
    }
}
