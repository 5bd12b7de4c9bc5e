package io.moeprune.report;

import java.nio.file.Path;

/**
 * Size and speed of one checkpoint the report measured: the full model or a pruned one.
 *
 * @param label           "full model" or the pruned directory's name
 * @param dir             the model directory
 * @param experts         routed experts per MoE layer
 * @param diskBytes       bytes of all files in the directory (weights, config, tokenizer)
 * @param weightBytes     bytes of all tensors (what the runtime memory-maps)
 * @param activeBytes     weight bytes a token reads (attention, router, top-k experts, LM head)
 * @param parameters      stored parameters (tensor elements)
 * @param throughput      prefill and decode tokens/s in the runtime
 * @param loss            loss of this checkpoint (no mask) on the prune domain's held-out text
 * @param maskedLoss      loss of the full model in mask mode with the same mask (NaN for the full model): pruning is
 *                        exact when the two agree
 * @param pruneSeconds    time to write the checkpoint (0 for the full model)
 */
public record ModelMeasurement(String label, Path dir, int experts, long diskBytes, long weightBytes, long activeBytes,
                               long parameters, Throughput throughput, Quality loss, Quality maskedLoss,
                               double pruneSeconds) {
    public boolean pruned() {
        return maskedLoss != null;
    }

    /** Relative difference between the pruned checkpoint's loss and the masked full model's. */
    public double lossMismatch() {
        if (maskedLoss == null) return 0;
        return Math.abs(loss.loss() - maskedLoss.loss()) / Math.max(Math.abs(maskedLoss.loss()), 1e-30);
    }
}
