package io.moeprune.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Warns where the full model's held-out perplexity is too low to mean much: natural text and code do not get below
 * about 1.5 unless the held-out text repeats itself (boilerplate, duplicated documents) or the model saw it in
 * training. Then every method looks alike and relative changes ("+625 %") are inflated, so the report says so.
 */
public final class ImplausibleLoss {
    /** Perplexity below which a held-out loss is called implausibly low. */
    public static final double PERPLEXITY_FLOOR = 1.5;

    private ImplausibleLoss() {
    }

    /** One line per domain whose full-model held-out perplexity is below the floor; empty when none is. */
    public static List<String> warnings(StudyResult study) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Quality> e : study.full().entrySet()) {
            Quality q = e.getValue();
            if (q.perplexity() < PERPLEXITY_FLOOR) {
                out.add(String.format(Locale.ROOT, "the full model's perplexity on %s's held-out text is %.2f (loss %.3f), "
                        + "implausibly low (< %.1f): the documents repeat text (boilerplate, duplicates) or were in the "
                        + "training data; compare methods with care", e.getKey(), q.perplexity(), q.loss(), PERPLEXITY_FLOOR));
            }
        }
        return out;
    }
}
