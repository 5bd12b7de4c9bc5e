package io.moeprune.report;

import java.util.Locale;

/**
 * What a report may say about a pruned checkpoint's decode speed against the full model's. A speed-up is claimed only
 * where every run of the pruned model beat every run of the full one, and never for a model that still reads nearly
 * all the full model's weights per token: pruning removes experts a token does not use, so per-token work (what
 * bounds decode) hardly changes, and a faster reading there is noise or cache luck, not a property of the model.
 */
public final class SpeedClaim {
    /** From this share of the full model's per-token weight reads on, no speed-up is claimed. */
    static final double SAME_WORK = 0.9;

    private SpeedClaim() {
    }

    /** One plain-text phrase, e.g. "decode 1.52x faster (...)" or "decode speed the same within the spread (...)". */
    public static String decode(ModelMeasurement pruned, ModelMeasurement full) {
        Spread p = pruned.throughput().decode(), f = full.throughput().decode();
        double work = (double) pruned.activeBytes() / full.activeBytes();
        String figures = String.format(Locale.ROOT, "%s vs %s tokens/s, median (range) of %d runs", p.format(), f.format(),
                pruned.throughput().runs());
        if (work >= SAME_WORK) {
            // Measured differences are real at times (a small pruned checkpoint fits the CPU caches where the full one
            // does not), but they are not what pruning buys on a model larger than the caches.
            return String.format(Locale.ROOT, "no decode speed-up to expect from pruning: it reads %.1f%% of the full "
                    + "model's weights per token (measured %s; a difference comes from noise or from the smaller "
                    + "checkpoint fitting the CPU caches, not from less work per token)", 100 * work, figures);
        }
        if (p.clearlyAbove(f)) {
            return String.format(Locale.ROOT, "decode %.2fx faster (%s)", p.median() / f.median(), figures);
        }
        if (f.clearlyAbove(p)) {
            return String.format(Locale.ROOT, "decode %.2fx slower (%s)", p.median() / f.median(), figures);
        }
        return "decode speed the same within the spread of the runs (" + figures + ")";
    }
}
