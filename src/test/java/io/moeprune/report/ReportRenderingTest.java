package io.moeprune.report;

import io.moeprune.select.Method;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTML page and Markdown of a hand-made report: tables, plots and the numbers in them. */
class ReportRenderingTest {

    static Report report(double prunedLoss) {
        List<String> domains = List.of("java", "docs");
        List<Method> methods = List.of(Method.EASYEP, Method.RANDOM);
        Map<String, Quality> full = Map.of("java", new Quality(2.0, 0.5, 100), "docs", new Quality(4.0, 0.3, 80));
        Map<String, Map<Method, Map<Integer, Quality>>> in = new LinkedHashMap<>();
        in.put("java", Map.of(Method.EASYEP, keeps(2.2, 2.5), Method.RANDOM, keeps(3.0, 3.6)));
        in.put("docs", Map.of(Method.EASYEP, keeps(4.1, 4.4), Method.RANDOM, keeps(4.8, 5.2)));
        Map<String, Map<String, Map<Integer, Quality>>> ood = new LinkedHashMap<>();
        ood.put("java", Map.of("docs", keeps(4.5, 5.0)));
        ood.put("docs", Map.of("java", keeps(2.6, 3.1)));
        double[][] impJava = {{0.5, 0.25, 0.125, 0.125}, {0.1, 0.2, 0.3, 0.4}};
        Map<String, double[][]> importance = Map.of("java", impJava, "docs", impJava);
        Map<String, Map<Integer, int[][]>> kept = Map.of("java", Map.of(2, new int[][]{{0, 1}, {2, 3}}));
        StudyResult study = new StudyResult(domains, 4, full, in, ood, importance, Map.of("java", 100L, "docs", 80L),
                Map.of("java", 500L, "docs", 400L), Method.EASYEP, List.of(3, 2), methods, kept, 12.0);
        Map<String, Path> files = new LinkedHashMap<>();
        files.put("java", Path.of("data/java.jsonl"));
        files.put("docs", Path.of("data/docs.jsonl"));
        ReportConfig config = new ReportConfig(Path.of("models/m"), files, methods, List.of(3, 2), 4, 1024, 8, 256,
                "java", 128, 32, 3, 1, "moeprune report models/m --domains data --out x");
        List<ModelMeasurement> models = new ArrayList<>();
        models.add(new ModelMeasurement("full model", Path.of("models/m"), 4, 4_000_000, 3_900_000, 1_000_000,
                1_950_000, new Throughput(new Spread(400, 380, 420), new Spread(100, 90, 105), 128, 32, 3), full.get("java"), null, 0));
        models.add(new ModelMeasurement("java-2of4", Path.of("models", "java-2of4"), 2, 2_000_000, 1_950_000, 990_000,
                975_000, new Throughput(new Spread(450, 440, 460), new Spread(110, 104, 115), 128, 32, 3), new Quality(prunedLoss, 0.4, 100), keeps(2.2, 2.5).get(2), 1));
        return new Report(config, "m", "qwen3_moe", 2, 2, 2, study, models, 2, "2 processors, Test CPU",
                Instant.parse("2026-11-23T12:00:00Z"), 20);
    }

    static Map<Integer, Quality> keeps(double at3, double at2) {
        Map<Integer, Quality> m = new TreeMap<>();
        m.put(3, new Quality(at3, 0.4, 100));
        m.put(2, new Quality(at2, 0.4, 100));
        return m;
    }

    @Test
    void htmlHasTablesWellFormedPlotsAndNoExternalResources() throws Exception {
        String html = ReportHtml.render(report(2.5));
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("<h3>In domain, 3 of 4 experts kept per layer</h3>"));
        assertTrue(html.contains("<h3>Out of domain: each domain's easyep mask, 2 of 4 experts</h3>"));
        // In-domain easyep on java at 3/4: 2.2 against 2.0 = +10.0 %, the best of the two methods (bold).
        assertTrue(html.contains("<td class=\"n best\" title=\"perplexity 9.03, accuracy 40.0%, 100 tokens\">2.200 "
                + "<span class=\"d\">(+10.0%)</span></td>"), html);
        // The java mask evaluated on docs at 2/4: 5.0 against 4.0 = +25.0 %.
        assertTrue(html.contains(">5.000 <span class=\"d\">(+25.0%)</span></td>"));
        // Full model mean (2 + 4) / 2.
        assertTrue(html.contains("<td class=\"n\">3.000</td></tr>"));
        // Pruned checkpoint row: half the disk bytes, loss equal to the masked one: exact.
        assertTrue(html.contains("1.9 MiB <span class=\"d\">(50%)</span>"));
        assertTrue(html.contains("<td class=\"ok\">yes (0.0e+00)</td>"));
        assertTrue(html.contains("Pruning is exact"));

        Matcher m = Pattern.compile("<svg.*?</svg>", Pattern.DOTALL).matcher(html);
        int svgs = 0;
        while (m.find()) {
            DocumentBuilderFactory.newInstance().newDocumentBuilder()
                    .parse(new ByteArrayInputStream(m.group().getBytes(StandardCharsets.UTF_8)));
            svgs++;
        }
        assertEquals(4, svgs, "a quality chart and an importance heatmap per domain");
        // Heatmap cell of layer 0 expert 0: importance 0.5 is the layer's maximum, shown as 1.
        assertTrue(html.contains("<title>MoE layer 0 / 0: 1.000</title>"));
        assertTrue(html.contains("<title>MoE layer 1 / 0: 0.250</title>"));
        // Quality chart: easyep at 2 experts (2.5), and the full model reference line.
        assertTrue(html.contains("<title>easyep: 2, 2.5000</title>"));
        assertTrue(html.contains("<title>full model: 2.0000</title>"));

        String lower = html.toLowerCase();
        assertFalse(lower.contains("<script"));
        assertFalse(lower.contains("<link"));
        assertFalse(lower.contains("src="));
        assertFalse(lower.contains("url("));
        assertFalse(html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "").contains("http"));
    }

    @Test
    void inexactPruningIsShownAsFailure() {
        Report r = report(2.6);
        assertFalse(r.pruningExact());
        String html = ReportHtml.render(r);
        assertTrue(html.contains("<td class=\"bad\">NO (4.0e-02)</td>"));
        assertTrue(html.contains("Pruning check FAILED"));
        assertTrue(ReportMarkdown.render(r).contains("**Pruning check failed**"));
    }

    @Test
    void markdownHasTheStudyTablesPlotLinksAndPrunedModels(@TempDir Path dir) throws Exception {
        Path html = ReportFiles.write(report(2.5), dir);
        assertEquals(dir.resolve("report.html"), html);
        String md = Files.readString(dir.resolve("report.md"));
        assertTrue(md.contains("| easyep | 2.200 (+10.0%) | 4.100 (+2.5%) | 3.150 (+5.0%) |"), md);
        assertTrue(md.contains("| java | 2.500 (+25.0%) | 5.000 (+25.0%) | 3.750 (+25.0%) |"), md);
        assertTrue(md.contains("![java: loss vs experts kept](plots/quality-java.svg)"));
        assertTrue(md.contains("| java-2of4 | 2/4 | 975,000 | 1.9 MiB | 1.9 MiB | 966.8 KiB | 450.0 (440-460) | 110.0 (104-115) | 2.500000 | 2.500000 | yes (0.0e+00) |"), md);
        for (String f : List.of("plots/quality-java.svg", "plots/quality-docs.svg", "plots/importance-java.svg",
                "plots/importance-docs.svg")) {
            DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(dir.resolve(f).toFile());
        }
    }

    @Test
    void domainNamesComeFromFileNames(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("java.dev.jsonl"), "{\"text\":\"a\"}\n");
        Files.writeString(dir.resolve("prose.jsonl"), "{\"text\":\"a\"}\n");
        Files.writeString(dir.resolve("notes.txt"), "x");
        Path other = Files.writeString(dir.resolve("x.jsonl.gz"), "");
        Files.writeString(dir.resolve("medical.test.parquet"), "");
        Map<String, Path> d = DomainFiles.parse(List.of(dir.toString()));
        assertEquals(List.of("java", "medical", "prose", "x"), List.copyOf(d.keySet()));
        assertEquals(dir.resolve("medical.test.parquet"), d.get("medical"));
        Map<String, Path> named = DomainFiles.parse(List.of("code=" + dir.resolve("java.dev.jsonl"), other.toString()));
        assertEquals(List.of("code", "x"), List.copyOf(named.keySet()));
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.moeprune.MoepruneException.class,
                () -> DomainFiles.parse(List.of(dir.toString(), dir.resolve("prose.jsonl").toString())));
        assertTrue(e.getMessage().contains("domain 'prose' is also given by"), e.getMessage());
    }
}
