package io.moeprune.safetensors;

/** Decoding of the two 8-bit float formats (OCP FP8): E4M3 "FN" (no infinities) and E5M2. */
public final class Fp8 {
    private static final float[] E4M3 = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            int sign = (b >> 7) & 1, exp = (b >> 3) & 0xf, man = b & 0x7;
            float v;
            if (exp == 0xf && man == 0x7) v = Float.NaN;            // E4M3FN: only S.1111.111 is NaN
            else if (exp == 0) v = (man / 8f) * (float) Math.pow(2, -6);   // subnormal
            else v = (1 + man / 8f) * (float) Math.pow(2, exp - 7);
            E4M3[b] = sign == 1 ? -v : v;
            // E5M2 is the high byte of an IEEE half: same exponent bias (15), two mantissa bits.
            E5M2[b] = Float.float16ToFloat((short) (b << 8));
        }
    }

    private Fp8() {
    }

    public static float e4m3ToFloat(byte b) {
        return E4M3[b & 0xff];
    }

    public static float e5m2ToFloat(byte b) {
        return E5M2[b & 0xff];
    }
}
