package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.Model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * How fast the host stages a model's layers from its mapped checkpoint into staging memory (what
 * {@link WeightStream}'s staging does per layer) with a given number of {@link StagingPool} threads: for
 * {@code bench/run gpuStaging}, which compares thread counts in one process. The staging memory is plain native
 * memory here (no device needed); pinned memory is written at the same speed. Likewise a streamed pass's host
 * embeddings ({@link #embedAll}).
 */
public final class StagingRate {
    /** One pass over every layer: bytes written and seconds (host clock). */
    public record Pass(long bytes, double seconds) {
        public double gbPerSecond() {
            return bytes / seconds / 1e9;
        }
    }

    private final List<LayerPlan> layers;

    public StagingRate(Model model) {
        this.layers = LayerPlan.of(model);
    }

    /** Stages every layer once, one after another into one buffer, with {@code threads} threads. */
    public Pass stageAll(int threads) {
        try (Arena arena = Arena.ofShared(); StagingPool pool = new StagingPool(threads)) {
            MemorySegment staging = arena.allocate(WeightStream.stagingBytes(layers), 256);
            long bytes = 0, t0 = System.nanoTime();
            for (LayerPlan l : layers) {
                pool.stage(l.layout(), staging);
                bytes += l.layout().uploadBytes();
            }
            return new Pass(bytes, (System.nanoTime() - t0) / 1e9);
        }
    }

    /**
     * Seconds to look {@code sequences}' embeddings up on the host as a streamed pass does ({@link Residuals#fill}:
     * {@code Model.embed} a sequence a task, {@code threads} threads), into host memory (no device needed).
     */
    public static double embedAll(Model model, List<int[]> sequences, int threads) {
        long[] firstRow = new long[sequences.size() + 1];
        for (int c = 0; c < sequences.size(); c++) firstRow[c + 1] = firstRow[c] + sequences.get(c).length;
        int hidden = model.spec().hiddenSize();
        try (HostOps ops = new HostOps(Long.MAX_VALUE); StagingPool pool = new StagingPool(threads);
             Residuals rows = new Residuals(ops, firstRow[sequences.size()], hidden, false)) {
            long t0 = System.nanoTime();
            rows.fill(firstRow, c -> model.embed(sequences.get(c), 0), pool);
            return (System.nanoTime() - t0) / 1e9;
        }
    }

    /** The default thread count ({@code -Dmoeprune.stagingThreads}, else min(8, cores/2)). */
    public static int defaultThreads() {
        try (StagingPool pool = new StagingPool()) {
            return pool.threads();
        }
    }
}
