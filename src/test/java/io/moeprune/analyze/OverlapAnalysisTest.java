package io.moeprune.analyze;

import io.moeprune.calibrate.CalibrationAccumulator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.select.Method;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class OverlapAnalysisTest {

    /** A domain whose demonstrations route to the given experts of a 1-layer, 8-expert model. */
    static ExpertStats domain(String name, int[][] demoExperts) {
        CalibrationAccumulator acc = new CalibrationAccumulator(1, 8, 2);
        float[] h = {1, 0}, r = {0, 1};
        for (int[] experts : demoExperts) {
            for (int e : experts) {
                acc.token(0, h, r, new int[]{e}, new float[]{1f}, new float[]{1f}, new float[]{0, 0, 0, 0, 0, 0, 0, 0});
            }
            acc.endDemo(name, experts.length);
        }
        return acc.result("fp", name, List.of(0));
    }

    @Test
    void overlapBetweenDomainsCountsSharedExperts() {
        ExpertStats a = domain("a", new int[][]{{0, 0, 1, 1, 2, 2, 3}});
        ExpertStats b = domain("b", new int[][]{{0, 0, 1, 1, 6, 6, 7}});
        double[][][] o = OverlapAnalysis.betweenDomains(List.of(a, b), Method.FREQUENCY, 3, 0);
        assertEquals(1.0, o[0][0][0]);
        assertEquals(2.0 / 3, o[0][1][0], 1e-12);   // top-3: {0,1,2} vs {0,1,6}
    }

    @Test
    void stabilityAcrossDemonstrationCounts() {
        // first demo points at experts 4,5; the other three at 0,1 — with all four, 0 and 1 dominate
        ExpertStats s = domain("d", new int[][]{{4, 4, 5}, {0, 0, 1}, {0, 1, 1}, {0, 1}});
        assertArrayEquals(new int[]{1, 2, 4}, OverlapAnalysis.demoCounts(4));
        double[][] o = OverlapAnalysis.acrossDemoCounts(s, Method.FREQUENCY, 2, new int[]{1, 2, 4}, 0);
        assertEquals(0.0, o[0][0]);
        assertEquals(1.0, o[2][0]);
    }

    @Test
    void svgPlotsAreWellFormed() {
        String heat = Svg.heatmap("overlap", List.of("a", "b"), List.of("a", "b"), new double[][]{{1, 0.5}, {0.5, 1}});
        assertTrue(heat.startsWith("<svg") && heat.contains("0.50") && heat.trim().endsWith("</svg>"));
        String line = Svg.lineChart("t", "demos", "overlap", new double[]{1, 2, 4}, List.of("math"),
                List.of(new double[]{0.5, 0.75, 1}), 0, 1);
        assertTrue(line.contains("<polyline") && line.contains("math"));
    }
}
