package io.moeprune.runtime;

/**
 * Watches every MoE block of a forward pass (calibration statistics, debugging). Attach one through
 * {@link ForwardContext}; without one the runtime keeps no per-expert outputs at all.
 *
 * <p>The two defaults let a pass do less for an observer that says it needs less; an observer that does not override
 * them gets everything, on the pass's own thread, as before.
 */
@FunctionalInterface
public interface MoeObserver {

    /** Called once per MoE layer and forward batch, after the block's output is known. The trace's arrays are
     * only valid during the call (a pass that calls on a worker thread, {@link #runsOffThread}, hands over arrays of
     * the trace's own). */
    void onMoeBlock(MoeTrace trace);

    /**
     * Whether the observer reads {@link MoeTrace#residualIn} of a trace that carries the device-reduced
     * {@code turns} and {@code slotNorms} (the GPU runtime's). When no observer of a chunk does, the GPU pass does not
     * download the residual (n·H floats a layer) and such traces carry it as null. The CPU runtime fills it always.
     */
    default boolean readsResidual() {
        return true;
    }

    /**
     * Whether the GPU pass may call this observer on a worker thread, while the pass goes on to later layers. An
     * observer that says so keeps to its own state, which nobody reads before the pass's {@code run} returns: the
     * calls for one sequence still come one at a time and in layer order, but those of different sequences may come
     * at once (so one instance shared by several sequences must not say so unless it is thread-safe). The pass waits
     * for every call before returning, and rethrows an observer's exception from {@code run}. Default false: called
     * on the pass's thread, layer L's trace before layer L+1 is computed.
     */
    default boolean runsOffThread() {
        return false;
    }
}
