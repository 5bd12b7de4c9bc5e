package io.moeprune.prune;

/** What pruning does with one tensor of the input checkpoint. */
sealed interface TensorAction {
    /** Copied byte for byte, possibly under a new name (a kept expert's tensors, renumbered). */
    record Copy(String source, String target) implements TensorAction {
    }

    /** The kept rows along dimension 0 (experts of a fused tensor, router rows), whole rows copied as bytes. */
    record SliceExperts(String source, String target, int[] rows) implements TensorAction {
    }

    /** Left out: a dropped expert's tensor or a multi-token-prediction layer. */
    record Drop(String source, String reason) implements TensorAction {
    }

    String source();
}
