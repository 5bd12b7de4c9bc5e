package io.moeprune.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes a report's files: report.html (self-contained), report.md and the plots it links (plots/*.svg). */
public final class ReportFiles {
    public static final String HTML = "report.html";
    public static final String MARKDOWN = "report.md";

    private ReportFiles() {
    }

    static String qualityPlot(String domain) {
        return "plots/quality-" + safe(domain) + ".svg";
    }

    static String importancePlot(String domain) {
        return "plots/importance-" + safe(domain) + ".svg";
    }

    private static String safe(String name) {
        return name.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /** Writes the files into {@code dir}; returns the HTML page. */
    public static Path write(Report report, Path dir) {
        try {
            Files.createDirectories(dir.resolve("plots"));
            for (String d : report.study().domains()) {
                Files.writeString(dir.resolve(qualityPlot(d)), ReportPlots.quality(report.study(), d));
                Files.writeString(dir.resolve(importancePlot(d)), ReportPlots.importance(report.study(), d));
            }
            Files.writeString(dir.resolve(MARKDOWN), ReportMarkdown.render(report));
            Path html = dir.resolve(HTML);
            Files.writeString(html, ReportHtml.render(report));
            return html;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
