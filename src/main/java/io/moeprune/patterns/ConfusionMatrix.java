package io.moeprune.patterns;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/** Counts of (true label, matched task) over labelled prompts, and the share matched to their own label. */
public final class ConfusionMatrix {
    private final Map<String, Map<String, Integer>> counts = new TreeMap<>();
    private final TreeSet<String> columns = new TreeSet<>();
    private int total;
    private int correct;

    public void add(String label, String matched) {
        counts.computeIfAbsent(label, k -> new TreeMap<>()).merge(matched, 1, Integer::sum);
        columns.add(matched);
        total++;
        if (label.equals(matched)) correct++;
    }

    public int total() {
        return total;
    }

    public int correct() {
        return correct;
    }

    public double accuracy() {
        return total == 0 ? 0 : (double) correct / total;
    }

    public int count(String label, String matched) {
        return counts.getOrDefault(label, Map.of()).getOrDefault(matched, 0);
    }

    public List<String> labels() {
        return List.copyOf(counts.keySet());
    }

    /** Every label and matched task, labels first. */
    public List<String> columns() {
        TreeSet<String> all = new TreeSet<>(counts.keySet());
        all.addAll(columns);
        return new ArrayList<>(all);
    }

    /** A Markdown table: one row per true label, one column per matched task, then the row's accuracy. */
    public String markdown() {
        List<String> cols = columns();
        StringBuilder sb = new StringBuilder("| label \\ matched |");
        cols.forEach(c -> sb.append(' ').append(c).append(" |"));
        sb.append(" own |\n|---|");
        cols.forEach(c -> sb.append("---:|"));
        sb.append("---:|\n");
        for (String label : counts.keySet()) {
            sb.append("| ").append(label).append(" |");
            int row = 0;
            for (String c : cols) {
                int n = count(label, c);
                row += n;
                sb.append(' ').append(n == 0 ? "." : Integer.toString(n)).append(" |");
            }
            sb.append(String.format(Locale.ROOT, " %.0f %% |%n", 100.0 * count(label, label) / row));
        }
        sb.append(String.format(Locale.ROOT, "%naccuracy %.1f %% (%d of %d)%n", 100 * accuracy(), correct, total));
        return sb.toString();
    }
}
