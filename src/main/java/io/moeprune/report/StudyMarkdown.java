package io.moeprune.report;

import io.moeprune.select.Method;

import java.util.Locale;
import java.util.Map;

/** The study's tables as Markdown: in-domain loss per method and budget, and out-of-domain loss of the masks. */
public final class StudyMarkdown {
    private StudyMarkdown() {
    }

    public static String render(StudyResult r) {
        StringBuilder sb = new StringBuilder();
        for (int keep : r.keeps()) {
            sb.append(String.format(Locale.ROOT, "%n**In-domain loss (nats/token), %d/%d experts kept per layer** "
                    + "(lower is better; in brackets: change against the full model)%n%n", keep, r.numExperts()));
            header(sb, "method", r);
            row(sb, "full model", r, d -> r.full().get(d), null);
            for (Method m : r.methods()) {
                row(sb, m.cliName(), r, d -> r.inDomain().get(d).get(m).get(keep), r.full());
            }
        }
        for (int keep : r.keeps()) {
            sb.append(String.format(Locale.ROOT, "%n**Out-of-domain loss of each domain's `%s` mask, %d/%d experts** "
                    + "(rows: mask domain; columns: evaluated domain; diagonal: in-domain)%n%n", r.oodMethod().cliName(),
                    keep, r.numExperts()));
            header(sb, "mask \\ eval", r);
            row(sb, "full model", r, d -> r.full().get(d), null);
            for (String maskDomain : r.domains()) {
                Map<String, Map<Integer, Quality>> byEval = r.outOfDomain().get(maskDomain);
                row(sb, maskDomain, r, d -> d.equals(maskDomain) ? r.inDomain().get(d).get(r.oodMethod()).get(keep)
                        : byEval.get(d).get(keep), r.full());
            }
        }
        sb.append(String.format(Locale.ROOT, "%nEvaluated tokens per domain: %s; demonstration tokens: %s; %.0f s.%n",
                r.evalTokens(), r.demoTokens(), r.seconds()));
        return sb.toString();
    }

    private static void header(StringBuilder sb, String first, StudyResult r) {
        sb.append("| ").append(first).append(" |");
        r.domains().forEach(d -> sb.append(' ').append(d).append(" |"));
        sb.append(" mean |\n|---|");
        r.domains().forEach(d -> sb.append("---:|"));
        sb.append("---:|\n");
    }

    private static void row(StringBuilder sb, String label, StudyResult r, java.util.function.Function<String, Quality> q,
                            Map<String, Quality> baseline) {
        sb.append("| ").append(label).append(" |");
        double sum = 0, base = 0;
        for (String d : r.domains()) {
            double loss = q.apply(d).loss();
            sum += loss;
            if (baseline == null) {
                sb.append(String.format(Locale.ROOT, " %.3f |", loss));
            } else {
                double b = baseline.get(d).loss();
                base += b;
                sb.append(String.format(Locale.ROOT, " %.3f (%+.1f%%) |", loss, 100 * (loss - b) / b));
            }
        }
        int n = r.domains().size();
        if (baseline == null) sb.append(String.format(Locale.ROOT, " %.3f |%n", sum / n));
        else sb.append(String.format(Locale.ROOT, " %.3f (%+.1f%%) |%n", sum / n, 100 * (sum - base) / base));
    }
}
