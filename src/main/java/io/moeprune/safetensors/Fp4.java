package io.moeprune.safetensors;

/** Decoding of OCP MX's 4-bit float E2M1 and its power-of-two group scale E8M0 (gpt-oss's MXFP4 experts). */
public final class Fp4 {
    /** E2M1 values by nibble: sign in bit 3, two exponent bits, one mantissa bit. */
    private static final float[] E2M1 = {+0f, +0.5f, +1f, +1.5f, +2f, +3f, +4f, +6f,
            -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f};
    private static final float[] E8M0 = new float[256];

    static {
        // 2^(e − 127), exact; 0xFF (NaN in OCP MX) reads 2^128 = ∞.
        for (int e = 0; e < 256; e++) E8M0[e] = Math.scalb(1f, e - 127);
    }

    private Fp4() {
    }

    /** The E2M1 value of the low 4 bits of {@code nibble}. */
    public static float e2m1ToFloat(int nibble) {
        return E2M1[nibble & 0xf];
    }

    /** The scale an E8M0 byte stands for, 2^(e − 127). */
    public static float e8m0ToFloat(byte e) {
        return E8M0[e & 0xff];
    }
}
