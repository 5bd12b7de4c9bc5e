package io.moeprune.patterns;

import java.util.List;

/**
 * What a pattern store's store.json says: the model every pattern was made for, and how its signatures are read.
 *
 * @param modelPath    the model directory the store was built from (absolute; `patterns match` reads it unless
 *                     given --model)
 * @param fingerprint  calibrate/ModelFingerprint of the model
 * @param defaultKind  the signature kind `patterns match` ranks by unless told otherwise
 * @param depth        MoE layers the router-probs and hidden signatures read (PreMoe's always reads one)
 */
public record StoreInfo(String modelPath, String fingerprint, String family, int numExperts, int topK, List<Integer> moeLayers,
                        SignatureKind defaultKind, int depth) {
    public StoreInfo {
        moeLayers = List.copyOf(moeLayers);
    }
}
