package io.moeprune.fuzz;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** Outcome counts of one (input kind, stage) row of the summary, with the first few unexpected cases kept. */
final class Tally {
    static final int EXAMPLES_KEPT = 5;

    private final Map<Outcome, Integer> counts = new EnumMap<>(Outcome.class);
    private final List<String> examples = new ArrayList<>();

    synchronized void add(Outcome o, String example) {
        counts.merge(o, 1, Integer::sum);
        if ((o == Outcome.UNEXPECTED || o == Outcome.HANG) && examples.size() < EXAMPLES_KEPT) examples.add(example);
    }

    synchronized int count(Outcome o) {
        return counts.getOrDefault(o, 0);
    }

    synchronized int total() {
        return counts.values().stream().mapToInt(Integer::intValue).sum();
    }

    synchronized List<String> examples() {
        return List.copyOf(examples);
    }
}
