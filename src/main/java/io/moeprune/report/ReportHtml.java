package io.moeprune.report;

import io.moeprune.analyze.Svg;
import io.moeprune.select.Method;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/** The report as one self-contained HTML page: inline CSS and SVG, no scripts, no external resources. */
public final class ReportHtml {
    private static final String CSS = """
            body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;color:#222;\
            padding:0 12px;line-height:1.45;overflow-wrap:anywhere}
            h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
            .sub{color:#555;margin-top:0}
            table{border-collapse:collapse;margin:8px 0 18px;font-size:14px}
            th,td{border:1px solid #d0d0d0;padding:4px 9px}th{background:#f3f5f8;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td{white-space:nowrap}
            tr.full td{background:#f7f7f7;font-style:italic}
            .best{font-weight:bold}.d{color:#777;font-size:12px}.ok{color:#1a7f37;font-weight:bold}\
            .bad{color:#c62828;font-weight:bold}
            .scroll{overflow-x:auto;max-width:100%}
            .plots{display:flex;flex-wrap:wrap;gap:12px}.plots svg{border:1px solid #e3e3e3;max-width:100%;height:auto}
            @media (max-width:600px){body{margin:8px auto}table{font-size:12px}th,td{padding:3px 5px}h1{font-size:1.3em}}
            .cap{font-size:13px;color:#555;max-width:1100px}
            code,pre{background:#f5f5f5;border-radius:3px}pre{padding:8px;overflow-x:auto;font-size:13px}
            .key{background:#eef6ee;border:1px solid #cfe3cf;padding:10px 14px;border-radius:4px}
            """;

    private ReportHtml() {
    }

    public static String render(Report rep) {
        StudyResult r = rep.study();
        ReportConfig c = rep.config();
        StringBuilder sb = new StringBuilder();
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>moeprune report: ")
                .append(esc(rep.modelName())).append("</title>\n<style>\n").append(CSS).append("</style></head><body>\n");
        sb.append("<h1>moeprune report: ").append(esc(rep.modelName())).append("</h1>\n");
        sb.append(String.format(Locale.ROOT, "<p class=\"sub\">%s, %d layers (%d MoE), %d routed experts per MoE layer, "
                        + "top-%d &middot; domains %s &middot; %s &middot; %.0f s</p>%n", esc(rep.family()), rep.layers(),
                rep.moeLayers(), r.numExperts(), rep.topK(), esc(String.join(", ", r.domains())), created(rep), rep.seconds()));
        summary(sb, rep);

        sb.append("<h2>Quality per method and budget</h2>\n<p class=\"cap\">Next-token loss (nats/token, lower is better) "
                + "on each domain's held-out documents, with the experts of each domain's own mask (selected from its "
                + String.format(Locale.ROOT, "%d demonstrations); in grey the change against the full model. The masked model routes "
                + "exactly as the pruned checkpoint does. Best method per column in bold.</p>%n", c.demos()));
        for (int keep : r.keeps()) {
            sb.append(String.format(Locale.ROOT, "<h3>In domain, %d of %d experts kept per layer</h3>%n", keep, r.numExperts()));
            table(sb, "method", r, keep, r.methods().stream().map(m -> Map.entry(m.cliName(),
                    (Function<String, Quality>) d -> r.inDomain().get(d).get(m).get(keep))).toList());
        }
        if (r.domains().size() > 1) {
            for (int keep : r.keeps()) {
                sb.append(String.format(Locale.ROOT, "<h3>Out of domain: each domain's %s mask, %d of %d experts</h3>%n",
                        r.oodMethod().cliName(), keep, r.numExperts()));
                sb.append("<p class=\"cap\">Rows: the domain the mask was selected for; columns: the domain evaluated. "
                        + "The diagonal is in-domain.</p>\n");
                table(sb, "mask \\ evaluated", r, keep, r.domains().stream().map(md -> Map.entry(md,
                        (Function<String, Quality>) d -> d.equals(md) ? r.inDomain().get(d).get(r.oodMethod()).get(keep)
                                : r.outOfDomain().get(md).get(d).get(keep))).toList());
            }
        }

        sb.append("<h2>Quality against experts kept</h2>\n<div class=\"plots\">\n");
        for (String d : r.domains()) sb.append(ReportPlots.quality(r, d));
        sb.append("</div>\n<p class=\"cap\">One line per selection method; the dashed line is the full model (all "
                + r.numExperts() + " experts).</p>\n");

        sb.append("<h2>Expert importance</h2>\n<div class=\"plots\">\n");
        for (String d : r.domains()) sb.append(ReportPlots.importance(r, d));
        sb.append("</div>\n<p class=\"cap\">EASY-EP importance of every routed expert (rows: MoE layers, columns: expert "
                + "ids), from each domain's demonstrations, scaled so that each layer's most important expert is 1. "
                + "A dot marks the experts the easyep mask of the smallest budget keeps (what its pruned checkpoint holds). "
                + "Hover a cell for its value.</p>\n");

        pruned(sb, rep);
        settings(sb, rep);
        sb.append("</body></html>\n");
        return sb.toString();
    }

    private static void summary(StringBuilder sb, Report rep) {
        StudyResult r = rep.study();
        String d = rep.config().pruneDomain();
        ModelMeasurement full = rep.models().getFirst();
        sb.append("<div class=\"key\"><b>In short.</b><ul>\n");
        for (ModelMeasurement m : rep.models()) {
            if (!m.pruned()) continue;
            double rel = 100 * (m.loss().loss() - full.loss().loss()) / full.loss().loss();
            sb.append(String.format(Locale.ROOT, "<li>Keeping <b>%d of %d</b> experts (easyep, %s): %s loss %.3f vs %.3f "
                            + "(%+.1f%%), %s on disk instead of %s (%.0f%%); %s.</li>%n",
                    m.experts(), r.numExperts(), esc(d), esc(d), m.loss().loss(), full.loss().loss(), rel,
                    bytes(m.diskBytes()), bytes(full.diskBytes()), 100.0 * m.diskBytes() / full.diskBytes(),
                    esc(SpeedClaim.decode(m, full))));
        }
        for (String w : ImplausibleLoss.warnings(r)) {
            sb.append("<li><span class=\"bad\">Warning:</span> ").append(esc(w)).append(".</li>\n");
        }
        sb.append(rep.pruningExact()
                ? "<li><span class=\"ok\">Pruning is exact:</span> every pruned checkpoint's loss equals the masked full model's.</li>\n"
                : "<li><span class=\"bad\">Pruning check FAILED:</span> a pruned checkpoint's loss differs from the masked full model's (see below).</li>\n");
        sb.append("</ul></div>\n");
    }

    private static void table(StringBuilder sb, String first, StudyResult r, int keep,
                              List<Map.Entry<String, Function<String, Quality>>> rows) {
        sb.append("<div class=\"scroll\"><table><tr><th>").append(esc(first)).append("</th>");
        for (String d : r.domains()) sb.append("<th>").append(esc(d)).append("</th>");
        sb.append("<th>mean</th></tr>\n<tr class=\"full\"><td>full model</td>");
        double fullSum = 0;
        for (String d : r.domains()) {
            Quality q = r.full().get(d);
            fullSum += q.loss();
            sb.append(cell(q, null, false));
        }
        sb.append(String.format(Locale.ROOT, "<td class=\"n\">%.3f</td></tr>%n", fullSum / r.domains().size()));
        double[] best = new double[r.domains().size() + 1];
        java.util.Arrays.fill(best, Double.POSITIVE_INFINITY);
        for (var row : rows) {
            double sum = 0;
            for (int i = 0; i < r.domains().size(); i++) {
                double v = row.getValue().apply(r.domains().get(i)).loss();
                best[i] = Math.min(best[i], v);
                sum += v;
            }
            best[r.domains().size()] = Math.min(best[r.domains().size()], sum / r.domains().size());
        }
        for (var row : rows) {
            sb.append("<tr><td>").append(esc(row.getKey())).append("</td>");
            double sum = 0;
            for (int i = 0; i < r.domains().size(); i++) {
                String d = r.domains().get(i);
                Quality q = row.getValue().apply(d);
                sum += q.loss();
                sb.append(cell(q, r.full().get(d), rows.size() > 1 && q.loss() == best[i]));
            }
            double mean = sum / r.domains().size();
            sb.append(String.format(Locale.ROOT, "<td class=\"n%s\">%.3f <span class=\"d\">(%+.1f%%)</span></td></tr>%n",
                    rows.size() > 1 && mean == best[r.domains().size()] ? " best" : "", mean,
                    100 * (mean - fullSum / r.domains().size()) / (fullSum / r.domains().size())));
        }
        sb.append("</table></div>\n");
    }

    private static String cell(Quality q, Quality full, boolean best) {
        String tip = String.format(Locale.ROOT, "perplexity %.2f, accuracy %.1f%%, %d tokens", q.perplexity(),
                100 * q.accuracy(), q.predicted());
        String change = full == null ? "" : String.format(Locale.ROOT, " <span class=\"d\">(%+.1f%%)</span>",
                100 * (q.loss() - full.loss()) / full.loss());
        return String.format(Locale.ROOT, "<td class=\"n%s\" title=\"%s\">%.3f%s</td>", best ? " best" : "", tip,
                q.loss(), change);
    }

    private static void pruned(StringBuilder sb, Report rep) {
        StudyResult r = rep.study();
        ModelMeasurement full = rep.models().getFirst();
        Throughput t = full.throughput();
        sb.append("<h2>Pruned checkpoints: memory and speed</h2>\n");
        sb.append(String.format(Locale.ROOT, "<p class=\"cap\">The %s mask of <b>%s</b> at each budget, pruned into a real "
                        + "checkpoint (a standard Hugging Face checkpoint; the conformance tests load such checkpoints in transformers). Speed in moeprune's CPU runtime, %d thread(s) "
                        + "on %s: a fixed random prompt of %d tokens (prefill, one batched pass) then %d greedy decode steps; "
                        + "median and range (in brackets) of %d runs after a warm-up. Loss: on %s's held-out text; the pruned checkpoint without a mask "
                        + "must equal the full model with the mask.</p>%n", r.oodMethod().cliName(), esc(rep.config().pruneDomain()),
                rep.threads(), esc(rep.machine()), t.promptTokens(), t.decodeSteps(), t.runs(), esc(rep.config().pruneDomain())));
        sb.append("<div class=\"scroll\"><table><tr><th>model</th><th>experts</th><th>parameters</th><th>on disk</th><th>weight memory</th>"
                + "<th>weights read / token</th><th>prefill tok/s</th><th>decode tok/s</th><th>loss (checkpoint)</th>"
                + "<th>loss (masked full model)</th><th>exact</th></tr>\n");
        for (ModelMeasurement m : rep.models()) {
            sb.append(m.pruned() ? "<tr>" : "<tr class=\"full\">");
            sb.append("<td>").append(esc(m.label())).append("</td>");
            sb.append(String.format(Locale.ROOT, "<td class=\"n\">%d / %d</td><td class=\"n\">%,d</td>", m.experts(),
                    r.numExperts(), m.parameters()));
            sb.append(String.format(Locale.ROOT, "<td class=\"n\">%s%s</td><td class=\"n\">%s%s</td><td class=\"n\">%s%s</td>",
                    bytes(m.diskBytes()), share(m.diskBytes(), full.diskBytes()), bytes(m.weightBytes()),
                    share(m.weightBytes(), full.weightBytes()), bytes(m.activeBytes()), share(m.activeBytes(), full.activeBytes())));
            sb.append(String.format(Locale.ROOT, "<td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%.6f</td>",
                    m.throughput().prefill().format(), m.throughput().decode().format(), m.loss().loss()));
            if (m.pruned()) {
                boolean ok = m.lossMismatch() <= ReportRun.EXACT_TOLERANCE;
                sb.append(String.format(Locale.ROOT, "<td class=\"n\">%.6f</td><td class=\"%s\">%s (%.1e)</td>",
                        m.maskedLoss().loss(), ok ? "ok" : "bad", ok ? "yes" : "NO", m.lossMismatch()));
            } else {
                sb.append("<td class=\"n\">&ndash;</td><td></td>");
            }
            sb.append("</tr>\n");
        }
        sb.append("</table></div>\n<p class=\"cap\">On disk: all files of the directory. Weight memory: tensor bytes the runtime "
                + "memory-maps. Weights read per token: attention, router, the top-k experts and the LM head (what bounds "
                + "decode speed on large models); only the router part of it shrinks, so pruning saves memory rather than "
                + "per-token work. Directories: ");
        sb.append(String.join(", ", rep.models().stream().filter(ModelMeasurement::pruned)
                .map(m -> "<code>" + esc(m.dir().toString()) + "</code>").toList())).append(".</p>\n");
    }

    private static void settings(StringBuilder sb, Report rep) {
        ReportConfig c = rep.config();
        StudyResult r = rep.study();
        sb.append("<h2>Setting</h2>\n<div class=\"scroll\"><table>\n");
        row(sb, "model", c.model().toString());
        for (String d : r.domains()) {
            row(sb, "domain " + d, String.format(Locale.ROOT, "%s: %d demonstration tokens, %d held-out tokens predicted",
                    c.domains().get(d), r.demoTokens().get(d), r.evalTokens().get(d)));
        }
        row(sb, "methods", String.join(", ", r.methods().stream().map(Method::cliName).toList()));
        row(sb, "experts kept", r.keeps().toString() + " of " + r.numExperts() + " per MoE layer");
        row(sb, "split", String.format(Locale.ROOT, "first %d documents = demonstrations (up to %d tokens each); next up to "
                + "%d documents = held out, each whole, scored in rolling windows of %d tokens", c.demos(), c.maxDemoTokens(),
                c.evalDocs(), c.evalTokens()));
        row(sb, "random seed", Long.toString(c.seed()));
        row(sb, "machine", rep.machine() + ", " + rep.threads() + " compute thread(s)");
        row(sb, "study time", String.format(Locale.ROOT, "%.0f s (report %.0f s)", r.seconds(), rep.seconds()));
        sb.append("</table></div>\n<pre>").append(esc(c.commandLine())).append("</pre>\n");
    }

    private static void row(StringBuilder sb, String k, String v) {
        sb.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>\n");
    }

    static String created(Report rep) {
        return rep.created().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString().replace('T', ' ').replace("Z", " UTC");
    }

    private static String share(long v, long full) {
        return v == full ? "" : String.format(Locale.ROOT, " <span class=\"d\">(%.0f%%)</span>", 100.0 * v / full);
    }

    /** Binary units (KiB, MiB, GiB), as `inspect` prints them; the report and its stdout summary use this one form. */
    public static String bytes(long b) {
        if (b >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", b / (double) (1L << 30));
        if (b >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
    }

    private static String esc(String s) {
        return Svg.escape(s);
    }
}
