package io.moeprune.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The human-readable form of an {@link EvalReport}: a header, then one row per figure (task, metric, value, notes). */
public final class EvalTable {
    private EvalTable() {
    }

    public static String render(EvalReport r) {
        List<String[]> rows = new ArrayList<>();
        WeightMemory w = r.weights();
        rows.add(row("weights", "checkpoint", mb(w.checkpointBytes()), "all tensors"));
        rows.add(row("", "used", mb(w.usedBytes()), "tensors the model runs with"));
        if (w.keptBytes() != null) {
            rows.add(row("", "pruned", mb(w.keptBytes()), String.format(Locale.ROOT,
                    "%.1f%% of used: kept experts + non-expert weights", 100.0 * w.keptBytes() / w.usedBytes())));
        }
        if (r.residentBytes() != null) rows.add(row("", "resident", mb(r.residentBytes()), "process VmRSS"));
        if (r.text() != null) {
            TextEvaluation.Result t = r.text().result();
            String note = String.format(Locale.ROOT, "%d docs, %d tokens predicted, %.1f s", t.documents(), t.predicted(), t.seconds());
            rows.add(row("text", "loss", f(t.loss(), 4), note));
            rows.add(row("", "perplexity", f(t.perplexity(), 3), ""));
            rows.add(row("", "accuracy", f(t.accuracy(), 4), "next token"));
        }
        if (r.choice() != null) {
            ChoiceEvaluation.Result c = r.choice().result();
            rows.add(row("choice", "acc", f(c.acc(), 4),
                    String.format(Locale.ROOT, "%d questions, %.1f s", c.items().size(), c.seconds())));
            rows.add(row("", "acc_norm", f(c.accNorm(), 4), "per-token mean log-prob"));
            rows.add(row("", "acc_norm_bytes", f(c.accNormBytes(), 4), "per-byte (lm-eval-harness acc_norm)"));
        }
        if (r.generate() != null) {
            GenerationEvaluation.Result g = r.generate().result();
            rows.add(row("generate", "exact_match", f(g.exactMatch(), 4), String.format(Locale.ROOT,
                    "%d questions, %d tokens generated, %.1f s", g.items().size(), g.generatedTokens(), g.seconds())));
        }
        if (r.speed() != null) {
            SpeedMeasurement.Result s = r.speed();
            rows.add(row("speed", "prefill tok/s", f(s.prefillTokensPerSecond(), 1), s.promptTokens() + " prompt tokens"));
            rows.add(row("", "decode tok/s", f(s.decodeTokensPerSecond(), 1), s.decodeTokens() + " tokens decoded"));
        }

        StringBuilder sb = new StringBuilder();
        sb.append("model   ").append(r.model()).append('\n');
        sb.append("mask    ").append(r.mask() == null ? "none" : r.mask()).append('\n');
        sb.append("threads ").append(r.threads()).append('\n');
        sb.append("kernels ").append(r.kernels()).append("\n\n");
        int[] width = new int[3];
        rows.add(0, row("task", "metric", "value", ""));
        for (String[] row : rows) for (int i = 0; i < 3; i++) width[i] = Math.max(width[i], row[i].length());
        for (String[] row : rows) {
            String line = String.format(Locale.ROOT, "%-" + width[0] + "s  %-" + width[1] + "s  %" + width[2] + "s  %s",
                    row[0], row[1], row[2], row[3]);
            sb.append(line.stripTrailing()).append('\n');
        }
        return sb.toString();
    }

    private static String[] row(String task, String metric, String value, String note) {
        return new String[]{task, metric, value, note};
    }

    private static String f(double v, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f", v);
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
}
