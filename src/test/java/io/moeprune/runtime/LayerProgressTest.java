package io.moeprune.runtime;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayerProgressTest {

    @Test
    void describesLayersBytesRateAndTimeLeft() {
        LayerProgress p = new LayerProgress(12, 48, 3_200_000_000L, 20_000_000_000L);
        assertEquals(160e6, p.readRate(), 1);
        assertEquals(60, p.secondsLeft(), 1e-9);
        assertEquals("layer 12/48, 3.2 GB read at 160 MB/s, 1m00s left", p.describe());
        assertEquals("layer 1/4, 5s left", new LayerProgress(1, 4, -1, 1_666_666_667L).describe());
        assertTrue(Double.isNaN(new LayerProgress(0, 4, 0, 0).secondsLeft()));
    }

    @Test
    void creditsEachSequencesUnitsOnceSpreadOverTheLayers() {
        List<Integer> steps = new ArrayList<>();
        List<LayerProgress> layers = new ArrayList<>();
        // Three choices of one item (a third each) and a 7-token document, through 3 layers.
        LayerMajorListener l = LayerMajorListener.crediting(new double[]{1 / 3.0, 1 / 3.0, 1 / 3.0, 7}, 3,
                steps::add, layers::add);
        for (int layer = 0; layer < 3; layer++) {
            for (int s = 0; s < 4; s++) l.sequenceDone(s, layer);
            l.layerDone(new LayerProgress(layer + 1, 3, 0, 1));
        }
        assertEquals(8, steps.stream().mapToInt(Integer::intValue).sum());
        // Per layer 1/3 of the item and 7/3 tokens: whole units as soon as they are complete (2.67 -> 2; 3.0 -> 1;
        // 5.33 -> 2; 8 -> 3).
        assertEquals(List.of(2, 1, 2, 3), steps);
        assertEquals(3, layers.size());
    }
}
