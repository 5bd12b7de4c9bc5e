package io.moeprune.runtime;

import java.util.Locale;

/**
 * Wall time per part of the forward pass, for finding where a prefill or decode step spends its time (the
 * benchmarks print it). Off unless {@code -Dmoeprune.phases=true}: then the calling thread's time between
 * {@link #start()} and {@link #end} is added to the phase. Off, {@link #ON} is a constant false and the JIT drops
 * every call.
 */
public final class PhaseTimes {
    /** The parts of a forward pass, in the order they run. */
    public enum Phase {
        EMBED, NORM, QKV, QK_NORM_ROPE, ATTEND, O_PROJ, RESIDUAL, ROUTER, EXPERT_GATHER, EXPERT_GATE_UP,
        EXPERT_DOWN, SHARED_EXPERT, DENSE_MLP, LM_HEAD
    }

    public static final boolean ON = Boolean.getBoolean("moeprune.phases");
    private static final long[] NANOS = new long[Phase.values().length];

    private PhaseTimes() {
    }

    /** A start time for {@link #end}, or 0 when off. */
    public static long start() {
        return ON ? System.nanoTime() : 0L;
    }

    /** Adds the time since {@code start} to the phase and returns now (the start of the next phase). */
    public static long end(Phase phase, long start) {
        if (!ON) return 0L;
        long now = System.nanoTime();
        synchronized (NANOS) {
            NANOS[phase.ordinal()] += now - start;
        }
        return now;
    }

    /** The nanoseconds per phase (by ordinal) since the last call, and starts counting again from zero. */
    public static long[] take() {
        synchronized (NANOS) {
            long[] t = NANOS.clone();
            java.util.Arrays.fill(NANOS, 0L);
            return t;
        }
    }

    /** A table of phase times (from {@link #take}, possibly summed): ms and share of the total. */
    public static String table(long[] t) {
        long total = 0;
        for (long v : t) total += v;
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-16s %10s %7s%n", "phase", "ms", "share"));
        for (Phase p : Phase.values()) {
            long v = t[p.ordinal()];
            if (v == 0) continue;
            sb.append(String.format(Locale.ROOT, "%-16s %10.1f %6.1f%%%n", p.name().toLowerCase(Locale.ROOT), v / 1e6,
                    100.0 * v / Math.max(1, total)));
        }
        return sb.append(String.format(Locale.ROOT, "%-16s %10.1f%n", "total", total / 1e6)).toString();
    }
}
