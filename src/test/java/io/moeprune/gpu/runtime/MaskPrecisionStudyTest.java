package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Issue 22's study of where the GPU's masks part from the CPU's: the shared models' calibration (32 demonstrations
 * of 256 tokens, as GpuLayerMajorPassCudaTest runs on CUDA; the calibration only) on HostOps with BF16 roundings
 * switched off part by part ({@link HostOps.Rounding}), each printed with its statistic errors and mask swaps.
 * Minutes a run (one HostOps pass over 8k tokens), so off by default: {@code
 * -Dmoeprune.maskStudy=moe-tiny-7d/python:PEA,PE,-} runs the named model and
 * domain under each rounding, a letter per part rounded (P projections, E experts, A attention; - none).
 */
class MaskPrecisionStudyTest {
    /**
     * The CPU's own margins ({@code -Dmoeprune.maskGaps=moe-tiny-7d/python,...}): for each method and layer, the
     * relative gap between the last expert the mask keeps and the first it drops. A statistic error above a layer's gap
     * may swap its mask.
     */
    @Test
    @EnabledIfSystemProperty(named = "moeprune.maskGaps", matches = ".+")
    void theCpusMarginsOfEachLayer() throws IOException {
        for (String study : System.getProperty("moeprune.maskGaps").split(",")) {
            String[] where = study.split("/");
            Path dir = GpuLayerMajorPassTest.SHARED.resolve(where[0]);
            Path data = GpuLayerMajorPassTest.DATA.resolve(where[1] + ".dev.jsonl");
            Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isRegularFile(data), "test bed absent: " + dir);
            try (Model model = Models.open(dir)) {
                List<int[]> seqs = PassComparison.documentSequences(dir, data, 32, 256);
                List<String> names = seqs.stream().map(java.util.Arrays::toString).toList();
                ExpertStats stats = new Calibrator(model).run(seqs, names, "f", "d", n -> { });
                int e = model.spec().moe().numExperts(), k = model.spec().moe().topK();
                for (Method m : new Method[]{Method.EASYEP, Method.FREQUENCY}) {
                    double[][] scores = m.scores(stats, 0);
                    int[][] kept = ExpertSelector.select(scores, Budget.perLayer(e / 2), k);
                    StringBuilder line = new StringBuilder();
                    for (int l = 0; l < kept.length; l++) {
                        line.append(String.format(java.util.Locale.ROOT, " L%d %.4f%%", model.spec().moeLayers().get(l),
                                100 * PassComparison.gap(scores[l], kept[l])));
                    }
                    report("GAPS " + study + " " + m.cliName() + ":" + line);
                }
            }
        }
    }

    @Test
    @EnabledIfSystemProperty(named = "moeprune.maskStudy", matches = ".+")
    void statisticsAndMasksUnderEachRounding() throws IOException {
        for (String study : System.getProperty("moeprune.maskStudy").split(";")) {
            String[] parts = study.split(":");
            String[] where = parts[0].split("/");
            Path dir = GpuLayerMajorPassTest.SHARED.resolve(where[0]);
            Path data = GpuLayerMajorPassTest.DATA.resolve(where[1] + ".dev.jsonl");
            Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isRegularFile(data), "test bed absent: " + dir);
            try (Model model = Models.open(dir)) {
                List<int[]> seqs = PassComparison.documentSequences(dir, data, 32, 256);
                ExpertStats cpu = PassComparison.calibrate(model, seqs, null);
                for (String letters : parts[1].split(",")) {
                    HostOps.Rounding r = new HostOps.Rounding(letters.contains("P"), letters.contains("E"),
                            letters.contains("A"));
                    long t0 = System.nanoTime();
                    try (HostOps ops = new HostOps(4L << 30).rounding(r)) {
                        PassComparison.Statistics st = PassComparison.statistics(model, seqs, cpu,
                                PassComparison.on(ops, 4L << 30));
                        report(String.format(java.util.Locale.ROOT,
                                "STUDY %s %s %s (%.0f s): sums within %.4f %%, %d mask swaps %s; %s", where[0],
                                where[1], r, (System.nanoTime() - t0) / 1e9, 100 * st.sumStatError(),
                                st.swaps().size(), st.swaps(), st.statErrors()));
                    }
                }
            }
        }
    }

    /**
     * Prints a line, and appends it to the file {@code -Dmoeprune.maskStudyLog} names (surefire keeps a test's output
     * until the test ends; a study runs for many minutes).
     */
    private static void report(String line) throws IOException {
        System.out.println(line);
        String log = System.getProperty("moeprune.maskStudyLog");
        if (log != null) {
            Files.writeString(Path.of(log), line + System.lineSeparator(), java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        }
    }
}
