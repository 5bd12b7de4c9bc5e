package io.moeprune.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * e^x for floats, the same float whether computed a vector at a time or one value at a time, and whether the JIT has
 * compiled the caller yet. {@code lanewise(VectorOperators.EXP)} is neither: compiled it calls the JDK's SVML routine,
 * interpreted it calls {@code Math.exp} per lane, and the two differ in the last bit for about 4 % of inputs. A
 * forward pass run before C2 compiled its kernels then differed from the same pass run after (a masked model against
 * its pruned checkpoint: 4e-6 relative in one of six CI runs, against a 1e-6 limit), and a vector's lanes differed
 * from the scalar tail's. Here only IEEE adds, multiplies and fused multiply-adds are used, which every tier computes
 * alike: Cephes' expf (range reduction by n·ln 2 in two parts, a degree-6 polynomial, then the exponent set from n),
 * within 2 ulp of the exact value.
 */
public final class Exp {
    /** Below this e^x is under the smallest normal float: 0. */
    private static final float LOW = -87.33654f;
    /** Inputs are capped here, so that n stays at most 127 (e^88 = 1.65e38, below the largest float). */
    private static final float HIGH = 88f;
    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 in two parts, the first exact in few bits, so that x − n·ln 2 loses nothing. */
    private static final float NEG_LN2_HI = -0.693359375f, NEG_LN2_LO = 2.12194440e-4f;
    /** 1.5·2^23: adding it rounds a float below 2^22 to an integer (to nearest even), kept in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = 0x4B400000;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    private Exp() {
    }

    /** e^x, lane by lane. */
    public static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(LOW).min(HIGH);
        FloatVector t = c.mul(LOG2E).add(ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(n.broadcast(NEG_LN2_HI), c);
        r = n.fma(n.broadcast(NEG_LN2_LO), r);
        FloatVector z = r.mul(r);
        FloatVector p = r.broadcast(P0).fma(r, r.broadcast(P1));
        p = p.fma(r, r.broadcast(P2));
        p = p.fma(r, r.broadcast(P3));
        p = p.fma(r, r.broadcast(P4));
        p = p.fma(r, r.broadcast(P5));
        FloatVector y = p.fma(z, r).add(1f);
        IntVector bits = t.reinterpretAsInts().sub(ROUNDER_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return y.mul(bits.reinterpretAsFloats()).blend(0f, x.lt(LOW));
    }

    /** e^x, the same float as a lane of {@link #exp(FloatVector)}. */
    public static float exp(float x) {
        float c = Math.min(Math.max(x, LOW), HIGH);
        float t = c * LOG2E + ROUNDER;
        float n = t - ROUNDER;
        float r = Math.fma(n, NEG_LN2_HI, c);
        r = Math.fma(n, NEG_LN2_LO, r);
        float z = r * r;
        float p = Math.fma(P0, r, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p, z, r) + 1f;
        float scale = Float.intBitsToFloat((Float.floatToRawIntBits(t) - (ROUNDER_BITS - 127)) << 23);
        return x < LOW ? 0f : y * scale;
    }
}
