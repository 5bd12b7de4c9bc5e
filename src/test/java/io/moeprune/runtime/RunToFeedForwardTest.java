package io.moeprune.runtime;

import io.moeprune.model.ModelSpec;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Model.runToFeedForward sees what a full forward's MoE block sees, and runs nothing of that block but its router. */
class RunToFeedForwardTest {

    @Test
    void residualAndRouterLogitsEqualTheFullForwardsAtEveryMoeLayer() {
        ModelSpec spec = TestModels.spec(ObserverAndMaskTest.QWEN3);
        assertEquals(List.of(0, 2), spec.moeLayers(), "fixture: MoE, dense, MoE");
        try (Model model = Model.load(ObserverAndMaskTest.QWEN3, spec)) {
            List<ObserverAndMaskTest.Seen> full = ObserverAndMaskTest.observe(model, model.newState(), ObserverAndMaskTest.PROMPT);
            for (ObserverAndMaskTest.Seen s : full) {
                List<Integer> watched = new ArrayList<>();
                Model.FeedForwardInput in = model.runToFeedForward(ObserverAndMaskTest.PROMPT, s.layer(),
                        t -> watched.add(t.layer()));
                assertEquals(ObserverAndMaskTest.PROMPT.length, in.n());
                assertClose(s.h(), in.residual(), "h entering layer " + s.layer());
                assertClose(s.logits(), in.routerLogits(), "router logits of layer " + s.layer());
                // Only the MoE blocks before the layer ran; the layer's own experts did not.
                assertEquals(spec.moeLayers().stream().filter(l -> l < s.layer()).toList(), watched);
            }
        }
    }

    @Test
    void aDenseLayerHasNoRouterLogits() {
        ModelSpec spec = TestModels.spec(ObserverAndMaskTest.QWEN3);
        try (Model model = Model.load(ObserverAndMaskTest.QWEN3, spec)) {
            Model.FeedForwardInput in = model.runToFeedForward(ObserverAndMaskTest.PROMPT, 1, null);
            assertNull(in.routerLogits());
            assertEquals(ObserverAndMaskTest.PROMPT.length * spec.hiddenSize(), in.residual().length);
        }
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5f * (1 + Math.abs(expected[i])), what + " at " + i);
        }
    }
}
