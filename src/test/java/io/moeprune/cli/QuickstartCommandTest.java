package io.moeprune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.report.QuickstartData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** quickstart end to end on the embedded model with tiny settings (and `report` on the same data). */
class QuickstartCommandTest {
    static final Path EMBEDDED = Path.of("models/moe-tiny-7d");
    static final String[] TINY = {"--methods", "easyep", "--keeps", "8", "--demos", "2", "--demo-tokens", "96",
            "--eval-docs", "2", "--eval-tokens", "48", "--runs", "1", "--threads", "2"};

    static String[] args(String first, Path out, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of(first, "--out", out.toString()));
        a.addAll(List.of(TINY));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void quickstartPrunesEvaluatesAndReportsThenRefusesToOverwrite(@TempDir Path tmp) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(EMBEDDED), "embedded model models/moe-tiny-7d absent");
        Path out = tmp.resolve("qs");
        RuntimeCommandsTest.Run r = RuntimeCommandsTest.run(args("quickstart", out));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().strip().endsWith("report: " + out.toAbsolutePath().resolve("report.html") + " (Markdown: "
                + out.toAbsolutePath().resolve("report.md") + ")"), r.out());
        assertTrue(r.err().contains("quickstart: pruning java easyep mask 8/32 -> models/java-8of32"), r.err());

        var config = new ObjectMapper().readTree(out.resolve("models/java-8of32/config.json").toFile());
        assertEquals(8, config.get("num_local_experts").asInt());
        assertTrue(Files.isRegularFile(out.resolve("masks/java-easyep-8of32.json")));
        assertTrue(Files.size(out.resolve("data/java.jsonl")) > 100_000, "the project's own sources");
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("Pruning is exact"), md);
        var results = new ObjectMapper().readTree(out.resolve("results.json").toFile());   // the numbers, beside the page
        assertEquals("moeprune-report", results.get("format").asText());
        assertTrue(results.get("domains").has("java") && results.get("domains").has("docs"), results.toString());
        assertTrue(results.get("exactness").get("pruning_exact").asBoolean());
        assertTrue(md.contains("| java-8of32 | 8/32 |"), md);
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("<h3>Out of domain: each domain's easyep mask, 8 of 32 experts</h3>"));
        assertEquals(4, html.split("<svg ", -1).length - 1);
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList(), "no staging directory left behind");
        }

        // A second run without --force is refused before any work, and leaves the report alone.
        long before = Files.getLastModifiedTime(out.resolve("report.html")).toMillis();
        RuntimeCommandsTest.Run again = RuntimeCommandsTest.run(args("quickstart", out));
        assertEquals(MoepruneException.BAD_INPUT, again.code());
        assertTrue(again.err().contains("already exists; use --force"), again.err());
        assertEquals(before, Files.getLastModifiedTime(out.resolve("report.html")).toMillis());

        // `report` on the quickstart's data: a bad budget is bad input.
        RuntimeCommandsTest.Run bad = RuntimeCommandsTest.run("report", EMBEDDED.toString(), "--domains",
                out.resolve("data").toString(), "--out", tmp.resolve("r").toString(), "--keeps", "2");
        assertEquals(MoepruneException.BAD_INPUT, bad.code());
        assertTrue(bad.err().contains("--keeps 2: must be at least top-k (4)"), bad.err());
        assertFalse(Files.exists(tmp.resolve("r")));
    }

    @Test
    void missingEmbeddedModelIsAClearError(@TempDir Path tmp) {
        MoepruneException e = assertThrows(MoepruneException.class, () -> QuickstartData.findRoot(List.of(tmp)));
        assertTrue(e.getMessage().startsWith("the embedded model models/moe-tiny-7d/ is missing (looked in [" + tmp), e.getMessage());
    }

    @Test
    void markdownIsSplitIntoSections() {
        String a = "x".repeat(300), b = "y".repeat(300);
        assertEquals(List.of("# T\n" + a + "\n", "## A\n" + b + "\n"),
                io.moeprune.report.QuickstartDataAccess.sections("# T\n" + a + "\n## A\n" + b + "\n## short\nz"));
    }
}
