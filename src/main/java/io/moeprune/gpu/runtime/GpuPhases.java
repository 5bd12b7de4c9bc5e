package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.DeviceOps;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The per-phase profile of a {@link GpuLayerMajorPass} run (where a prefill's time goes; benchmarks): the compute
 * stream is marked with timing events between the steps of each chunk, so its timeline from the layer loop's start to
 * its end is cut into phases without a wait (a phase is the time from the mark before it to its own, idle time of the
 * stream included); the host's wall is timed for what it does outside the loop (setup, embeddings, the end of the run,
 * the LM head) and, inside the loop, for its waits on staging. On with {@code -Dmoeprune.gpuPhases=true} (or
 * {@link GpuLayerMajorPass#profiled}); off, every method returns at once and no event is recorded.
 */
final class GpuPhases {
    static final boolean ON = Boolean.getBoolean("moeprune.gpuPhases");
    /** Marks nothing (decoding's steps). */
    static final GpuPhases OFF = new GpuPhases(null, false);

    /** Who a phase's time is of; {@link #adds} says whether it adds up with the others to the run's wall. */
    enum Where {
        HOST(true), STREAM(true), HOST_IN_LOOP(false);

        final boolean adds;

        Where(boolean adds) {
            this.adds = adds;
        }
    }

    /** The phases, in the order a run meets them. */
    enum Phase {
        ALLOCATIONS(Where.HOST, "setup: plan and allocations (buffers, residuals, flags)"),
        FIRST_STAGING(Where.HOST, "setup: weight slots, layer 0 staged and its copy queued"),
        EMBEDDINGS(Where.HOST, "setup: embeddings looked up and uploaded (host), or ids checked and uploaded"),
        WEIGHTS(Where.STREAM, "a layer's weights: waiting for its copy, dequantisation"),
        CHUNK_INPUTS(Where.STREAM, "a chunk's positions and starts, residual rows in and out"),
        ATTENTION(Where.STREAM, "attention: norm, projections, rope, attention, output, residual add"),
        ROUTING(Where.STREAM, "norm, router and routing (its expertStart download included)"),
        EXPERTS(Where.STREAM, "expert products (gather, gate|up, activation, down)"),
        DENSE_MLP(Where.STREAM, "a dense layer's MLP"),
        COMBINE(Where.STREAM, "combine the slots, residual add"),
        OBSERVERS(Where.STREAM, "observers: norms and turns, their downloads queued (no wait), traces handed on"),
        SHARED_EXPERT(Where.STREAM, "shared expert"),
        FINITE_CHECK(Where.STREAM, "finite check"),
        FINISH(Where.HOST, "end of the layers: observers' workers, synchronise, finite flags read"),
        LM_HEAD(Where.HOST, "LM head: logits or token scores"),
        STAGING_WAIT(Where.HOST_IN_LOOP, "host waits in the loop: staging of the next layer and its copy queued"),
        OBSERVER_WAIT(Where.HOST_IN_LOOP, "host waits in the loop: traces handed over (observers on the pass's thread"
                + " run, waiting for their downloads), a pinned region for the downloads");

        final Where where;
        final String what;

        Phase(Where where, String what) {
            this.where = where;
            this.what = what;
        }
    }

    private record Span(Phase phase, long from, long to) {
    }

    private final DeviceOps ops;
    private final boolean on;
    private final long[] hostNanos = new long[Phase.values().length];
    private final List<Span> spans = new ArrayList<>();
    private final long start;
    private long lastMark;

    GpuPhases(DeviceOps ops, boolean on) {
        this.ops = ops;
        this.on = on;
        this.start = System.nanoTime();
    }

    /** The host's clock for {@link #host}, or 0 when off. */
    long now() {
        return on ? System.nanoTime() : 0;
    }

    /** Adds the host's wall since {@code from} ({@link #now}) to {@code phase}. */
    void host(Phase phase, long from) {
        if (on) hostNanos[phase.ordinal()] += System.nanoTime() - from;
    }

    /** Adds {@code nanos} of the host's wall, timed elsewhere, to {@code phase}. */
    void hostNanos(Phase phase, long nanos) {
        if (on) hostNanos[phase.ordinal()] += nanos;
    }

    /** {@code make}'s value, its host wall added to {@code phase}. */
    <T> T host(Phase phase, Supplier<T> make) {
        long t = now();
        T made = make.get();
        host(phase, t);
        return made;
    }

    /** Marks the compute stream where the layer loop starts: the first stream phase is from here. */
    void loopStarts() {
        if (on) lastMark = ops.timingMark(false);
    }

    /** Ends {@code phase} on the compute stream here: its time is from the previous mark to this one. */
    void stream(Phase phase) {
        if (!on) return;
        long mark = ops.timingMark(false);
        spans.add(new Span(phase, lastMark, mark));
        lastMark = mark;
    }

    /** The profile, once the marks have passed (after the run's synchronisation); null when off. */
    GpuPhaseProfile profile() {
        if (!on) return null;
        double[] seconds = new double[Phase.values().length];
        for (int p = 0; p < seconds.length; p++) seconds[p] = hostNanos[p] / 1e9;
        for (Span s : spans) seconds[s.phase().ordinal()] += ops.elapsedSeconds(s.from(), s.to());
        return new GpuPhaseProfile(seconds, (System.nanoTime() - start) / 1e9);
    }
}
