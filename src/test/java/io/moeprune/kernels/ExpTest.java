package io.moeprune.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** Exp: close to e^x, and the same float a lane at a time as a vector at a time (the reason it exists). */
class ExpTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @Test
    void vectorLanesEqualTheScalarAndStayWithinTwoUlp() {
        Random random = new Random(3);
        float[] x = new float[F.length() * 4096];
        for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextDouble() * 190 - 95);
        // The edges: the smallest normal result, the cap, zero, infinities and NaN.
        float[] edges = {-87.33654f, -87.3366f, 88f, 88.5f, 0f, -0f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY,
                Float.NaN, 1e-30f, -1e-30f};
        System.arraycopy(edges, 0, x, 0, edges.length);
        float[] lanes = new float[x.length];
        for (int i = 0; i < x.length; i += F.length()) Exp.exp(FloatVector.fromArray(F, x, i)).intoArray(lanes, i);
        for (int i = 0; i < x.length; i++) {
            float scalar = Exp.exp(x[i]);
            assertEquals(Float.floatToIntBits(scalar), Float.floatToIntBits(lanes[i]), "x = " + x[i]);
            if (x[i] < -87.33654f) {
                assertEquals(0f, scalar, "x = " + x[i]);
            } else if (x[i] <= 88f) {
                double exact = Math.exp(x[i]);
                assertTrue(Math.abs(scalar - exact) <= 2 * Math.ulp((float) exact), "x = " + x[i] + ": " + scalar
                        + " against " + exact);
            }
        }
        assertTrue(Float.isNaN(Exp.exp(Float.NaN)));
        assertEquals((float) Math.exp(88), Exp.exp(Float.POSITIVE_INFINITY), 1e32f);
    }
}
