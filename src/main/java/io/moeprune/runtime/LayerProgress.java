package io.moeprune.runtime;

import java.util.Locale;

/**
 * Where a layer-major pass stands: layers done of all, bytes read from storage
 * since it started (-1 if the system does not say) and time spent.
 */
public record LayerProgress(int done, int total, long bytesRead, long nanos) {

    /** Bytes per second read from storage so far, or -1. */
    public double readRate() {
        return bytesRead < 0 || nanos == 0 ? -1 : bytesRead / (nanos / 1e9);
    }

    /** Seconds left at the pace so far (layers are alike in size). */
    public double secondsLeft() {
        return done == 0 ? Double.NaN : nanos / 1e9 / done * (total - done);
    }

    /** One line, e.g. "layer 12/48, 3.2 GB read at 110 MB/s, 2m10s left". */
    public String describe() {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "layer %d/%d", done, total));
        if (bytesRead >= 0) {
            b.append(String.format(Locale.ROOT, ", %s read at %s/s", bytes(bytesRead), bytes((long) readRate())));
        }
        double left = secondsLeft();
        if (!Double.isNaN(left)) {
            long s = Math.round(left);
            b.append(s >= 60 ? String.format(Locale.ROOT, ", %dm%02ds left", s / 60, s % 60)
                    : String.format(Locale.ROOT, ", %ds left", s));
        }
        return b.toString();
    }

    private static String bytes(long b) {
        if (b >= 1L << 30) return String.format(Locale.ROOT, "%.1f GB", b / 1e9);
        if (b >= 1L << 20) return String.format(Locale.ROOT, "%.0f MB", b / 1e6);
        return String.format(Locale.ROOT, "%.0f kB", b / 1e3);
    }
}
