package io.moeprune.runtime;

import java.util.List;
import java.util.function.IntFunction;

/**
 * A layer-major prefill of many sequences ({@link LayerMajorPass} on the CPU; io.moeprune.gpu.runtime's
 * GpuLayerMajorPass on a GPU): the same sequences, observers, logits (or token scores) and listener calls whichever
 * runs it.
 * {@link PrefillPasses} makes the one the command's {@code --device} chose.
 */
public interface PrefillPass {
    /**
     * Runs every sequence; {@code observers} gives sequence i's MoE observer (or null), {@code listener} hears each
     * finished (layer, sequence) step and each finished layer. Empty sequences are skipped. Every observer call has
     * happened when run returns; the GPU pass may make them on its workers, later than the layer's computation, for an
     * observer that {@link MoeObserver#runsOffThread}, and leave the residual out of a GPU trace where no observer
     * {@link MoeObserver#readsResidual}.
     */
    void run(List<int[]> sequences, IntFunction<MoeObserver> observers, LayerMajorPass.Sink sink,
             LayerMajorListener listener);
}
