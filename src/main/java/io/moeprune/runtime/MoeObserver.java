package io.moeprune.runtime;

/**
 * Watches every MoE block of a forward pass (calibration statistics, debugging). Attach one through
 * {@link ForwardContext}; without one the runtime keeps no per-expert outputs at all.
 */
@FunctionalInterface
public interface MoeObserver {

    /** Called once per MoE layer and forward batch, after the block's output is known. The trace's arrays are
     * only valid during the call. */
    void onMoeBlock(MoeTrace trace);
}
