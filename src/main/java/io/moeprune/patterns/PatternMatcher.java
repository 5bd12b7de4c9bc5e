package io.moeprune.patterns;

import java.util.Comparator;
import java.util.List;

/** Ranks stored patterns by the distance of their signature to a prompt's. */
public final class PatternMatcher {
    private PatternMatcher() {
    }

    /** One stored task and its distance to the prompt. */
    public record Match(String task, double distance) {
    }

    /** Every pattern, nearest first (equal distances: by name). */
    public static List<Match> rank(List<TaskPattern> patterns, Signatures prompt, SignatureKind kind) {
        double[] q = prompt.of(kind);
        return patterns.stream()
                .map(p -> new Match(p.name(), kind.distance().between(p.signatures().of(kind), q)))
                .sorted(Comparator.comparingDouble(Match::distance).thenComparing(Match::task))
                .toList();
    }
}
