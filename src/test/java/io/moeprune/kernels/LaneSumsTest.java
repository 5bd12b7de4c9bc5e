package io.moeprune.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** A row's lane sum is the same float whichever way LaneSums adds it: the kernels rely on it (prune --verify). */
class LaneSumsTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    @Test
    void eightSumsAtOnceAreEachVectorsTreeSum() {
        Assumptions.assumeTrue(LaneSums.eightAtOnce(), "the preferred species has " + L + " lanes, not 8 or 16");
        Random random = new Random(17);
        for (int trial = 0; trial < 200; trial++) {
            FloatVector[] a = new FloatVector[8];
            float[] lanes = new float[L];
            for (int k = 0; k < 8; k++) {
                // Magnitudes over many binades, so that any other order of the adds rounds differently.
                for (int i = 0; i < L; i++) {
                    lanes[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3));
                }
                a[k] = FloatVector.fromArray(F, lanes, 0);
            }
            float[] sums = new float[L];
            LaneSums.sumsOfEight(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]).intoArray(sums, 0);
            for (int k = 0; k < 8; k++) {
                float tree = LaneSums.sum(a[k]);
                float[] stored = a[k].toArray();
                assertEquals(tree, LaneSums.sumOfStored(stored, 0), "stored lanes, row " + k);
                assertEquals(tree, sums[k * (L / 8)], "trial " + trial + ", row " + k);
            }
        }
    }
}
