package io.moeprune.report;

import io.moeprune.io.JsonFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a report's files: report.html (self-contained), report.md, the plots they link (plots/*.svg) and the numbers
 * as JSON (results.json, {@link ReportJson}).
 */
public final class ReportFiles {
    public static final String HTML = "report.html";
    public static final String MARKDOWN = "report.md";
    public static final String RESULTS = "results.json";

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
            // Inside the staged report directory: it appears with the rest of the report or not at all.
            JsonFiles.mapper().writeValue(dir.resolve(RESULTS).toFile(), ReportJson.of(report));
            Path html = dir.resolve(HTML);
            Files.writeString(html, ReportHtml.render(report));
            return html;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
