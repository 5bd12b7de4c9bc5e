package io.moeprune.gpu.runtime;

import java.util.Locale;

/**
 * Where a profiled {@link GpuLayerMajorPass} run's time went ({@link GpuPhases}): seconds per phase and the run's
 * wall. Host phases outside the layer loop and the compute stream's phases inside it add up to about the wall: on
 * HostOps, which runs everything as it is queued, closely; on a GPU the host queues ahead of the stream, so they
 * overlap where the host waits for it (the end of the run's synchronisation) and add up to somewhat more. The host's
 * waits inside the loop are shown beside them, not added (the stream idles for them, inside its phases).
 */
public record GpuPhaseProfile(double[] seconds, double wallSeconds) {
    /** Seconds of the phases that add up to about the wall. */
    public double addingSeconds() {
        double sum = 0;
        for (GpuPhases.Phase p : GpuPhases.Phase.values()) if (p.where.adds) sum += seconds[p.ordinal()];
        return sum;
    }

    /** Seconds of one phase, by its name (lower case, as in the table). */
    public double seconds(String phase) {
        return seconds[GpuPhases.Phase.valueOf(phase.toUpperCase(Locale.ROOT)).ordinal()];
    }

    /** The table: phase, where, ms, share of the wall, what it covers. */
    public String table() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-14s %-12s %10s %7s  %s%n", "phase", "clock",
                "ms", "share", "covers"));
        for (GpuPhases.Phase p : GpuPhases.Phase.values()) {
            double s = seconds[p.ordinal()];
            if (s == 0) continue;
            sb.append(String.format(Locale.ROOT, "%-14s %-12s %10.1f %6.1f%%  %s%n", p.name().toLowerCase(Locale.ROOT),
                    p.where.name().toLowerCase(Locale.ROOT).replace('_', ' '), s * 1e3, 100 * s / wallSeconds,
                    p.what));
        }
        return sb.append(String.format(Locale.ROOT, "%-14s %-12s %10.1f %6.1f%%  %s%n", "sum", "", addingSeconds() * 1e3,
                100 * addingSeconds() / wallSeconds, "host and stream phases (host in loop not added)"))
                .append(String.format(Locale.ROOT, "%-14s %-12s %10.1f%n", "wall", "host", wallSeconds * 1e3))
                .toString();
    }
}
