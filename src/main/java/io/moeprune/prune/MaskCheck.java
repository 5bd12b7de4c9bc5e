package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;

import java.nio.file.Path;

/**
 * Checks that a mask was made for this model and that pruning it gives a checkpoint unmodified engines load.
 * "Made for this model": same family, routed-expert count, top-k and MoE layers here; the {@code Pruner} also
 * compares the mask's model fingerprint (when it has one) with the checkpoint's.
 */
final class MaskCheck {
    private MaskCheck() {
    }

    /** Throws a one-line {@link MoepruneException} naming the mask file for every mismatch; returns K. */
    static int check(ExpertMask mask, Path maskFile, ModelSpec spec) {
        String family = spec.family().modelType();
        if (!mask.family().isEmpty() && !mask.family().equals(family)) {
            throw MoepruneException.inFile(maskFile, "mask is for a " + mask.family() + " model, not this " + family + " model");
        }
        if (mask.numExperts() != spec.moe().numExperts()) {
            throw MoepruneException.inFile(maskFile, "mask is for a model with " + mask.numExperts()
                    + " routed experts per layer; this model has " + spec.moe().numExperts());
        }
        if (mask.topK() != spec.moe().topK()) {
            throw MoepruneException.inFile(maskFile, "mask is for a model with top-" + mask.topK()
                    + " routing; this model routes each token to " + spec.moe().topK() + " experts");
        }
        if (!mask.moeLayers().equals(spec.moeLayers())) {
            throw MoepruneException.inFile(maskFile, "mask covers MoE layers " + mask.moeLayers()
                    + " but this model's MoE layers are " + spec.moeLayers());
        }
        // Ids in range, no duplicates, at least top-k per layer (also sorts each layer ascending).
        MaskFiles.validate(mask, maskFile);
        int[][] kept = mask.kept();
        if (kept.length == 0) throw MoepruneException.inFile(maskFile, "the model has no MoE layers; nothing to prune");
        int k = kept[0].length;
        for (int i = 1; i < kept.length; i++) {
            if (kept[i].length != k) {
                throw MoepruneException.inFile(maskFile, "layers keep different numbers of experts (layer "
                        + mask.moeLayers().getFirst() + ": " + k + ", layer " + mask.moeLayers().get(i) + ": "
                        + kept[i].length + "); unmodified transformers/vLLM need one expert count per model, so "
                        + "select with a per-layer budget (or use the mask with the runtime's mask mode instead)");
            }
        }
        return k;
    }
}
