package io.moeprune.report;

import java.util.Arrays;
import java.util.Locale;

/**
 * A rate measured over several runs: the median and the range of the runs. On a shared machine one run says little
 * (the same model's decode read 380, 400 and 492 tokens/s in three runs), so a figure is shown with its range and a
 * difference counts only where the ranges do not overlap.
 */
public record Spread(double median, double min, double max) {

    public static Spread of(double[] runs) {
        if (runs.length == 0) throw new IllegalArgumentException("no runs");
        double[] s = runs.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        return new Spread(median, s[0], s[n - 1]);
    }

    /** Every run of this one above every run of {@code other}: a difference beyond what the runs scatter. */
    public boolean clearlyAbove(Spread other) {
        return min > other.max;
    }

    /** "503.1 (480-520)": the median and, in brackets, the range of the runs. */
    public String format() {
        return String.format(Locale.ROOT, "%.1f (%.0f-%.0f)", median, min, max);
    }
}
