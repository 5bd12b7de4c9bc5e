package io.moeprune.prune;

import java.nio.file.Path;

/**
 * A check of the finished (still staged) pruned model before it is moved into place; a failing check throws and
 * the pruned model is discarded.
 */
public interface Verification {
    /** Refuses early (before any writing) when this verification cannot run on the model. */
    void checkSupported(Path model);

    /** Compares the staged pruned model with the full model under the mask; throws when they disagree. */
    VerifyReport verify(Path model, Path pruned, io.moeprune.select.ExpertMask mask);

    /**
     * @param prompts      prompts run through both models
     * @param tokens       tokens per prompt
     * @param maxRelDiff   largest |pruned - masked| / max |masked| over all logits of a prompt
     * @param tolerance    the bound it had to stay under
     */
    record VerifyReport(int prompts, int tokens, double maxRelDiff, double tolerance) {
    }
}
