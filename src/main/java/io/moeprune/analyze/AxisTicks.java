package io.moeprune.analyze;

import java.util.Locale;

/**
 * Axis ticks on round numbers: a step of 1, 2 or 5 times a power of ten, about {@code target} of them, and an axis
 * range widened to the ticks around the data (a reader compares 3.5 with 4.0, not 3.47 with 3.96).
 *
 * @param min      first tick (at or below the data)
 * @param max      last tick (at or above the data)
 * @param step     distance between ticks
 * @param decimals decimals a label needs to show the step
 */
public record AxisTicks(double min, double max, double step, int decimals) {

    public static AxisTicks of(double lo, double hi, int target) {
        if (!(hi > lo)) {
            double pad = Math.max(Math.abs(lo) * 0.05, 0.01);
            lo -= pad;
            hi += pad;
        }
        double raw = (hi - lo) / Math.max(target, 1);
        double power = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = power * (raw / power <= 1 ? 1 : raw / power <= 2 ? 2 : raw / power <= 5 ? 5 : 10);
        double min = Math.floor(lo / step + 1e-9) * step, max = Math.ceil(hi / step - 1e-9) * step;
        int decimals = Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
        return new AxisTicks(min, max, step, decimals);
    }

    public int count() {
        return (int) Math.round((max - min) / step) + 1;
    }

    public double tick(int i) {
        return min + i * step;
    }

    public String label(int i) {
        return String.format(Locale.ROOT, "%." + decimals + "f", tick(i));
    }
}
