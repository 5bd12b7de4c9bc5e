package io.moeprune.analyze;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AxisTicksTest {
    private static List<String> labels(AxisTicks t) {
        return IntStream.range(0, t.count()).mapToObj(t::label).toList();
    }

    @Test
    void ticksAreOneTwoOrFiveTimesAPowerOfTen() {
        assertEquals(List.of("3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "4.0"), labels(AxisTicks.of(3.47, 3.96, 5)));
        assertEquals(List.of("3.4", "3.6", "3.8", "4.0"), labels(AxisTicks.of(3.47, 3.96, 3)));
        assertEquals(List.of("0", "20", "40", "60", "80", "100"), labels(AxisTicks.of(0, 93, 5)));
        assertEquals(List.of("2.50", "2.55", "2.60"), labels(AxisTicks.of(2.51, 2.58, 3)));
        AxisTicks flat = AxisTicks.of(2, 2, 5);
        assertTrue(flat.min() < 2 && flat.max() > 2, "a flat series still gets an axis around it");
    }

    @Test
    void heatmapHasAColourScaleAndMarkedCells() {
        String svg = Svg.heatmap("t", List.of("a", "b"), List.of("0", "1"), new double[][]{{1, 0.2}, {0.3, 1}}, 17,
                "expert", new boolean[][]{{true, false}, {false, true}}, "kept at 1 of 2");
        assertEquals(2, svg.split("<circle ", -1).length - 2, "two marked cells (plus the legend's dot)");
        assertTrue(svg.contains(">kept at 1 of 2</text>"));
        assertTrue(svg.contains(">0.5</text>"), "colour scale ticks");
    }
}
