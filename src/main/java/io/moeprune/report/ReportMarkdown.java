package io.moeprune.report;

import io.moeprune.select.Method;

import java.util.Locale;

/** The report as Markdown: the study's tables (StudyMarkdown), links to the plots, and the pruned checkpoints. */
public final class ReportMarkdown {
    private ReportMarkdown() {
    }

    public static String render(Report rep) {
        StudyResult r = rep.study();
        ReportConfig c = rep.config();
        StringBuilder sb = new StringBuilder();
        sb.append("# moeprune report: ").append(rep.modelName()).append("\n\n");
        sb.append(String.format(Locale.ROOT, "%s, %d layers (%d MoE), %d routed experts per MoE layer, top-%d. Domains: %s. "
                        + "Methods: %s. Created %s in %.0f s.%n", rep.family(), rep.layers(), rep.moeLayers(), r.numExperts(),
                rep.topK(), String.join(", ", r.domains()), String.join(", ", r.methods().stream().map(Method::cliName).toList()),
                ReportHtml.created(rep), rep.seconds()));
        for (String w : ImplausibleLoss.warnings(r)) sb.append("\n**Warning:** ").append(w).append(".\n");
        sb.append("\n## Quality per method and budget\n");
        sb.append(StudyMarkdown.render(r));
        sb.append("\n## Plots\n\n");
        for (String d : r.domains()) {
            sb.append("![").append(d).append(": loss vs experts kept](").append(ReportFiles.qualityPlot(d)).append(")\n");
        }
        sb.append('\n');
        for (String d : r.domains()) {
            sb.append("![").append(d).append(": expert importance](").append(ReportFiles.importancePlot(d)).append(")\n");
        }
        ModelMeasurement full = rep.models().getFirst();
        Throughput t = full.throughput();
        sb.append(String.format(Locale.ROOT, "%n## Pruned checkpoints (%s mask of `%s`)%n%n", r.oodMethod().cliName(),
                c.pruneDomain()));
        sb.append(String.format(Locale.ROOT, "Speed in the CPU runtime, %d thread(s) on %s: random prompt of %d tokens, then "
                        + "%d decode steps, median and range (in brackets) of %d runs. Loss on `%s`'s held-out text: the pruned checkpoint (no mask) and "
                        + "the full model with the mask must agree.%n%n", rep.threads(), rep.machine(), t.promptTokens(),
                t.decodeSteps(), t.runs(), c.pruneDomain()));
        sb.append("| model | experts | parameters | on disk | weight memory | weights read/token | prefill tok/s | "
                + "decode tok/s | loss (checkpoint) | loss (masked full) | exact |\n"
                + "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (ModelMeasurement m : rep.models()) {
            sb.append(String.format(Locale.ROOT, "| %s | %d/%d | %,d | %s | %s | %s | %s | %s | %.6f | %s | %s |%n",
                    m.label(), m.experts(), r.numExperts(), m.parameters(), ReportHtml.bytes(m.diskBytes()),
                    ReportHtml.bytes(m.weightBytes()), ReportHtml.bytes(m.activeBytes()),
                    m.throughput().prefill().format(), m.throughput().decode().format(), m.loss().loss(),
                    m.pruned() ? String.format(Locale.ROOT, "%.6f", m.maskedLoss().loss()) : "–",
                    !m.pruned() ? "" : m.lossMismatch() <= ReportRun.EXACT_TOLERANCE
                            ? String.format(Locale.ROOT, "yes (%.1e)", m.lossMismatch())
                            : String.format(Locale.ROOT, "**NO** (%.1e)", m.lossMismatch())));
        }
        sb.append('\n');
        for (ModelMeasurement m : rep.models()) {
            if (m.pruned()) sb.append("- ").append(m.label()).append(": ").append(SpeedClaim.decode(m, full)).append(".\n");
        }
        sb.append('\n').append(rep.pruningExact() ? "Pruning is exact: every pruned checkpoint's loss equals the masked full model's.\n"
                : "**Pruning check failed**: a pruned checkpoint's loss differs from the masked full model's.\n");
        sb.append("\nMade with:\n\n    ").append(c.commandLine()).append('\n');
        return sb.toString();
    }
}
