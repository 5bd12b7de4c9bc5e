package io.moeprune.patterns;

import java.util.Map;

/**
 * The signature vectors of one text or task, one per {@link SignatureKind}, over the first {@code depth} MoE layers.
 *
 * @param tokens the tokens the means were taken over
 */
public record Signatures(int depth, long tokens, Map<SignatureKind, double[]> vectors) {
    public Signatures {
        vectors = Map.copyOf(vectors);
    }

    public double[] of(SignatureKind kind) {
        double[] v = vectors.get(kind);
        if (v == null) throw new IllegalArgumentException("no " + kind.cliName() + " signature");
        return v;
    }
}
