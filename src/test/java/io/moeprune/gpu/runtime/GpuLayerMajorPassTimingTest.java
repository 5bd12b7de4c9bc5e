package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A timed pass ({@link GpuLayerMajorPass#timed}) on HostOps, whose timing marks are the host's clock: one
 * {@link LayerTimes} per layer, in order, each layer's copied bytes its slot layout's uploaded ones, the parts non-negative and the
 * compute within the layer's wall time; an untimed pass records none.
 */
class GpuLayerMajorPassTimingTest {
    private static final Path FP8 = Path.of("src/test/resources/conformance/deepseek_v3_fp8");

    @Test
    void aTimedPassReportsEachLayersCopyAndCompute() {
        try (Model model = Models.open(FP8); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 17, 5);
            List<LayerPlan> plans = LayerPlan.of(model);

            GpuLayerMajorPass untimed = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, ops,
                    1L << 30);
            untimed.run(seqs, s -> null, (s, logits) -> { }, LayerMajorListener.NONE);
            assertEquals(List.of(), untimed.layerTimes());

            GpuLayerMajorPass timed = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, ops,
                    1L << 30).timed();
            timed.run(seqs, s -> null, (s, logits) -> { }, LayerMajorListener.NONE);
            List<LayerTimes> times = timed.layerTimes();
            assertEquals(model.layers().size(), times.size());
            for (int l = 0; l < times.size(); l++) {
                LayerTimes t = times.get(l);
                assertEquals(l, t.layer());
                SlotLayout layout = plans.get(l).layout();
                assertEquals(layout.uploadBytes(), t.bytesCopied());
                // FP8 weights travel raw: their BF16 destinations (most of the slot) are not copied.
                assertTrue(t.bytesCopied() > 0 && t.bytesCopied() < layout.bytes(), t + " of " + layout.bytes());
                assertTrue(t.stageSeconds() >= 0 && t.uploadSeconds() >= 0 && t.dequantSeconds() >= 0, t.toString());
                assertTrue(t.computeSeconds() > 0 && t.computeSeconds() <= t.wallSeconds(), t.toString());
                assertEquals(t.stageSeconds() + t.uploadSeconds() + t.dequantSeconds(), t.copySeconds(), 1e-12);
            }
        }
    }
}
