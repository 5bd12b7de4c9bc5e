package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.analyze.OverlapAnalysis;
import io.moeprune.analyze.Svg;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.io.StagedOutput;
import io.moeprune.select.Method;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code moeprune analyze}: few-shot expert localisation — overlap of top-K sets between domains and demo counts. */
@Command(name = "analyze", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Overlap of the top-K expert sets between domains and between demonstration counts "
                + "(1, 2, 4, ... demos), as tables and SVG plots."},
        footer = {"", "Example:", "  moeprune analyze stats/*.stats --method easyep --keep 16 --out analysis/"})
final class AnalyzeCommand implements Callable<Integer> {

    @Parameters(arity = "1..*", paramLabel = "STATS", description = "statistics files written by `moeprune calibrate`")
    List<Path> stats;

    @Option(names = "--method", defaultValue = "easyep", description = "scoring method (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--keep", converter = Ranges.Positive.class, description = "size K of the compared top-K sets (default: half the experts)")
    Integer keep;

    @Option(names = "--out", description = "directory for the SVG plots (default: no plots)")
    Path out;

    @Mixin
    JsonOption json = new JsonOption();

    @Override
    public Integer call() throws Exception {
        Method m = Method.parse(method);
        List<ExpertStats> domains = new ArrayList<>();
        for (Path p : stats) domains.add(StatsFile.read(p));
        ExpertStats first = domains.get(0);
        for (int i = 1; i < domains.size(); i++) {
            if (!domains.get(i).fingerprint().equals(first.fingerprint())) {
                throw MoepruneException.inFile(stats.get(i), "statistics from another model than " + stats.get(0));
            }
        }
        int k = keep == null ? first.numExperts() / 2 : keep;
        if (k < 1 || k > first.numExperts()) throw new MoepruneException("--keep must be in 1.." + first.numExperts());
        List<String> names = domains.stream().map(ExpertStats::domain).toList();

        double[][][] between = OverlapAnalysis.betweenDomains(domains, m, k, 0);
        double[][] meanBetween = new double[names.size()][names.size()];
        for (int a = 0; a < names.size(); a++) {
            for (int b = 0; b < names.size(); b++) meanBetween[a][b] = OverlapAnalysis.mean(between[a][b]);
        }
        int maxDemos = domains.stream().mapToInt(ExpertStats::numDemos).max().orElse(1);
        int[] counts = OverlapAnalysis.demoCounts(maxDemos);
        List<double[]> series = new ArrayList<>();
        for (ExpertStats s : domains) {
            double[][] o = OverlapAnalysis.acrossDemoCounts(s, m, k, counts, 0);
            double[] means = new double[counts.length];
            for (int i = 0; i < counts.length; i++) {
                means[i] = counts[i] <= s.numDemos() ? OverlapAnalysis.mean(o[i]) : Double.NaN;
            }
            series.add(means);
        }
        if (!json.json) printTables(m, k, first.numMoeLayers(), names, meanBetween, counts, series);
        List<Path> plots = out == null ? List.of() : writePlots(m, k, names, meanBetween, counts, series);
        if (json.json) {
            ObjectNode o = ResultJson.object("moeprune-analyze").put("method", m.cliName()).put("keep", k)
                    .put("moe_layers", first.numMoeLayers());
            names.forEach(o.putArray("domains")::add);
            ArrayNode rows = o.putArray("overlap_between_domains");
            for (double[] row : meanBetween) Arrays.stream(row).forEach(rows.addArray()::add);
            Arrays.stream(counts).forEach(o.putArray("demo_counts")::add);
            ObjectNode byDemos = o.putObject("overlap_by_demos");
            for (int i = 0; i < names.size(); i++) {
                ArrayNode a = byDemos.putArray(names.get(i));
                for (double v : series.get(i)) a.add(ResultJson.finite(v));   // null: the domain has fewer demos
            }
            plots.forEach(p -> o.withArray("plots").add(p.toString()));
            ResultJson.emit(o, true, null, System.out);
        } else if (!plots.isEmpty()) {
            System.out.printf("%nwrote %s and %s%n", plots.get(0), plots.get(1));
        }
        return 0;
    }

    private static void printTables(Method m, int k, int moeLayers, List<String> names, double[][] meanBetween,
                                    int[] counts, List<double[]> series) {
        System.out.printf(Locale.ROOT, "Overlap of top-%d expert sets between domains (%s, mean over %d MoE layers)%n",
                k, m.cliName(), moeLayers);
        System.out.printf("%-10s", "");
        names.forEach(n -> System.out.printf(" %8.8s", n));
        System.out.println();
        for (int a = 0; a < names.size(); a++) {
            System.out.printf("%-10.10s", names.get(a));
            for (int b = 0; b < names.size(); b++) System.out.printf(Locale.ROOT, " %8.3f", meanBetween[a][b]);
            System.out.println();
        }
        System.out.printf(Locale.ROOT, "%nOverlap with the top-%d set from all demonstrations, by demonstrations used%n", k);
        System.out.printf("%-10s", "demos");
        for (int c : counts) System.out.printf(" %6d", c);
        System.out.println();
        for (int d = 0; d < names.size(); d++) {
            System.out.printf("%-10.10s", names.get(d));
            for (double v : series.get(d)) System.out.printf(Locale.ROOT, " %6.3f", v);
            System.out.println();
        }
    }

    /** The two SVG plots under --out; returns their paths. */
    private List<Path> writePlots(Method m, int k, List<String> names, double[][] meanBetween, int[] counts,
                                  List<double[]> series) {
        Path heat = out.resolve("overlap-domains.svg");
        StagedOutput.writeString(heat, Svg.heatmap("Top-" + k + " overlap between domains (" + m.cliName() + ")",
                names, names, meanBetween));
        double[] x = new double[counts.length];
        for (int i = 0; i < counts.length; i++) x[i] = counts[i];
        Path line = out.resolve("overlap-demos.svg");
        StagedOutput.writeString(line, Svg.lineChart("Top-" + k + " overlap with all-demo set", "demonstrations",
                "overlap", x, names, series, 0, 1));
        return List.of(heat, line);
    }
}
