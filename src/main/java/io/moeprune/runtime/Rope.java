package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.model.RopeSpec;

/**
 * Rotary position embedding. The inverse frequencies follow transformers' rope initialisers (computed in F32 as
 * torch does); implemented rope types: {@code default}, {@code linear} (positions divided by the factor) and
 * {@code yarn} (frequency blend plus the mscale attention factor on cos/sin). {@code dynamic}, {@code llama3} and
 * {@code longrope} need parameters RopeSpec does not carry (or a length-dependent table) and are refused.
 *
 * <p>Layout: by default the two halves of the rotated dimensions are paired (rotate_half); with
 * {@link RopeSpec#interleaved()} neighbours (x0,x1),(x2,x3)... are paired. Both give identical attention scores as
 * long as queries and keys use the same layout.
 *
 * <p>The cos/sin tables of the positions used so far are kept (up to {@link #CACHED_POSITIONS}), and layers with the
 * same rope share one instance ({@link #of}): a decode step otherwise computed 64 cos/sin pairs (head_dim 128) per
 * layer for its one position, and a prefill the same for each of its positions in every layer.
 */
public final class Rope {
    /** Positions whose tables are kept: 2^16 × head_dim floats (32 MB at head_dim 128) at most, grown as used. */
    static final int CACHED_POSITIONS = 1 << 16;
    private static final java.util.Map<java.util.List<Object>, Rope> SHARED = new java.util.concurrent.ConcurrentHashMap<>();

    private final float[] invFreq;
    private final float attentionFactor;
    private final int rotaryDim;
    private final boolean interleaved;

    /** Tables of positions [0, tables.length / (2·half)), position p at p·2·half. */
    private volatile float[] tables = new float[0];

    /** The rope types this runtime implements. */
    public static final java.util.List<String> SUPPORTED = java.util.List.of("default", "linear", "yarn");

    /** The rope of this spec and head size, shared with every layer that asks for the same one. */
    public static Rope of(RopeSpec spec, int headDim) {
        return SHARED.computeIfAbsent(java.util.List.of(spec, headDim), key -> new Rope(spec, headDim));
    }

    public Rope(RopeSpec spec, int headDim) {
        this.rotaryDim = spec.rotaryDim() > 0 ? spec.rotaryDim() : headDim;
        this.interleaved = spec.interleaved();
        int half = rotaryDim / 2;
        float[] base = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / rotaryDim;
            base[i] = 1f / (float) Math.pow(spec.theta(), exponent);
        }
        String type = spec.type() == null ? "default" : spec.type();
        switch (type) {
            case "default" -> {
                invFreq = base;
                attentionFactor = 1f;
            }
            case "linear" -> {
                invFreq = new float[half];
                for (int i = 0; i < half; i++) invFreq[i] = base[i] / (float) spec.factor();
                attentionFactor = 1f;
            }
            case "yarn" -> {
                invFreq = yarnFrequencies(spec, base, rotaryDim);
                attentionFactor = yarnAttentionFactor(spec);
            }
            default -> throw new MoepruneException("rope_type '" + type + "' is not supported by the runtime yet "
                    + "(supported: default, linear, yarn)");
        }
    }

    private static float[] yarnFrequencies(RopeSpec spec, float[] extrapolation, int dim) {
        double factor = spec.factor();
        double betaFast = spec.betaFast() > 0 ? spec.betaFast() : 32;
        double betaSlow = spec.betaSlow() > 0 ? spec.betaSlow() : 1;
        int original = spec.originalMaxPositions() > 0 ? spec.originalMaxPositions() : spec.maxPositions();
        double low = correctionDim(betaFast, dim, spec.theta(), original);
        double high = correctionDim(betaSlow, dim, spec.theta(), original);
        if (spec.truncate()) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) high += 0.001;
        int half = dim / 2;
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            double ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
            float extrapolationFactor = (float) (1 - ramp);
            float interpolation = extrapolation[i] / (float) factor;
            out[i] = interpolation * (1 - extrapolationFactor) + extrapolation[i] * extrapolationFactor;
        }
        return out;
    }

    private static double correctionDim(double rotations, int dim, double base, int maxPositions) {
        return (dim * Math.log(maxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
    }

    private static double mscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }

    private static float yarnAttentionFactor(RopeSpec spec) {
        if (spec.mscale() != 0 && spec.mscaleAllDim() != 0) {
            return (float) (mscale(spec.factor(), spec.mscale()) / mscale(spec.factor(), spec.mscaleAllDim()));
        }
        return (float) mscale(spec.factor(), 1);
    }

    public int rotaryDim() {
        return rotaryDim;
    }

    /** A copy of the inverse frequencies [rotaryDim/2] (a GPU runtime computes its angles from them). */
    public float[] invFreq() {
        return invFreq.clone();
    }

    /** What cos and sin are multiplied by (yarn's mscale; 1 otherwise). */
    public float attentionFactor() {
        return attentionFactor;
    }

    /** Whether neighbours (x0,x1),(x2,x3)... rotate together, rather than the two halves. */
    public boolean interleaved() {
        return interleaved;
    }

    /** cos and sin of every frequency at {@code position}: cs[i] = cos, cs[half+i] = sin (attention factor applied). */
    public float[] table(int position, float[] cs) {
        int width = 2 * invFreq.length;
        float[] t = tables;
        if ((long) (position + 1) * width > t.length && position < CACHED_POSITIONS) t = grow(position);
        if ((long) (position + 1) * width <= t.length) {
            System.arraycopy(t, position * width, cs, 0, width);
            return cs;
        }
        return compute(position, cs);
    }

    /** Tables up to at least {@code position}: twice as many positions as before (at least 256), within the cap. */
    private synchronized float[] grow(int position) {
        int width = 2 * invFreq.length;
        float[] t = tables;
        int have = t.length / width;
        if (position < have) return t;
        int positions = Math.min(CACHED_POSITIONS, Math.max(position + 1, Math.max(256, 2 * have)));
        float[] grown = java.util.Arrays.copyOf(t, positions * width);
        float[] cs = new float[width];
        for (int p = have; p < positions; p++) System.arraycopy(compute(p, cs), 0, grown, p * width, width);
        tables = grown;
        return grown;
    }

    private float[] compute(int position, float[] cs) {
        int half = invFreq.length;
        for (int i = 0; i < half; i++) {
            float angle = (float) position * invFreq[i];
            cs[i] = (float) Math.cos(angle) * attentionFactor;
            cs[half + i] = (float) Math.sin(angle) * attentionFactor;
        }
        return cs;
    }

    public float[] newTable() {
        return new float[invFreq.length * 2];
    }

    /** Rotates the first rotaryDim entries of the head vector at {@code x[off..]} with a {@link #table}. */
    public void rotate(float[] x, int off, float[] cs) {
        int half = invFreq.length;
        if (interleaved) {
            for (int i = 0; i < half; i++) {
                float a = x[off + 2 * i], b = x[off + 2 * i + 1];
                float c = cs[i], s = cs[half + i];
                x[off + 2 * i] = a * c - b * s;
                x[off + 2 * i + 1] = b * c + a * s;
            }
        } else {
            for (int i = 0; i < half; i++) {
                float a = x[off + i], b = x[off + half + i];
                float c = cs[i], s = cs[half + i];
                x[off + i] = a * c - b * s;
                x[off + half + i] = b * c + a * s;
            }
        }
    }
}
