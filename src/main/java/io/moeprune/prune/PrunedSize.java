package io.moeprune.prune;

import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;

import java.util.List;

/**
 * The tensor bytes a pruned checkpoint would hold, computed from the same plan {@link Pruner} writes (kept experts,
 * sliced routers and fused tensors, all other tensors, MTP layers dropped) without writing anything.
 */
public final class PrunedSize {
    private PrunedSize() {
    }

    /** Tensor data bytes (without safetensors headers) after keeping {@code kept[i]} in MoE layer moeLayers[i]. */
    public static long bytes(ModelSpec spec, Checkpoint checkpoint, List<Integer> moeLayers, int[][] kept) {
        long total = 0;
        for (TensorAction a : TensorPlan.of(spec, checkpoint, moeLayers, kept)) total += Pruner.outputBytes(checkpoint, a);
        return total;
    }
}
