package io.moeprune.patterns;

import io.moeprune.MoepruneException;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * What a query signature is made of. Each is a mean over a text's tokens, so a demonstration set and a short prompt
 * give comparable vectors; each reads only the first MoE layers' inputs (see {@link SignatureReader}).
 */
public enum SignatureKind {
    /**
     * PreMoe's retrieval key as its reference code computes it (partial_process.collect_query_logits): the first MoE
     * layer's raw router logits per token, zero except the token's top-1 expert, which keeps its logit; the mean over
     * tokens; compared by squared L2. Always one layer, whatever the store's depth.
     */
    PREMOE("premoe", Distance.SQUARED_L2),
    /** Softmax over all experts of the raw router logits, mean over tokens, per read MoE layer, concatenated. */
    ROUTER_PROBS("router-probs", Distance.COSINE),
    /** The residual stream h entering each read MoE block (attention added), mean over tokens, concatenated. */
    HIDDEN("hidden", Distance.COSINE);

    private final String cliName;
    private final Distance distance;

    SignatureKind(String cliName, Distance distance) {
        this.cliName = cliName;
        this.distance = distance;
    }

    public String cliName() {
        return cliName;
    }

    public Distance distance() {
        return distance;
    }

    /** MoE layers this kind reads when the store's signatures read {@code depth}. */
    public int layersRead(int depth) {
        return this == PREMOE ? 1 : depth;
    }

    public static SignatureKind parse(String name) {
        for (SignatureKind k : values()) if (k.cliName.equals(name)) return k;
        throw new MoepruneException("unknown signature kind '" + name + "' (known: " + names() + ")");
    }

    public static String names() {
        return Arrays.stream(values()).map(SignatureKind::cliName).collect(Collectors.joining(", "));
    }
}
