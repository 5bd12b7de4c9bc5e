package io.moeprune.runtime;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class RoutingTieCounterTest {
    static final Path DS3 = ConformanceTest.FIXTURES.resolve("deepseek_v3");

    @Test
    void theFixtureRoutesWithoutTies() {
        try (Model m = Model.load(DS3, TestModels.spec(DS3))) {
            RoutingTieCounter ties = new RoutingTieCounter(m, null);
            m.forward(ObserverAndMaskTest.PROMPT, m.newState(16).withObserver(ties), true);
            assertEquals(Map.of(1, 12, 2, 12), Map.of(1, ties.counts().get(1)[1], 2, ties.counts().get(2)[1]));
            assertEquals(0, ties.tieDependent());
            assertEquals("0 of 24 token-layers (layer 1: 0/12, layer 2: 0/12)", ties.summary());
        }
    }

    /**
     * Keeping {0, 4, 8, 9, 12} of 16 experts in groups of 4: only group 2 has the two experts a top-2 sum needs, the
     * second kept group is one of the -inf groups (0, lowest id), so the kept groups hold 3 candidates and the fourth
     * slot is a tie between experts 4 and 12 outside them, for every token.
     */
    @Test
    void aMaskThatLeavesTooFewCandidatesMakesEveryChoiceATie() {
        try (Model m = Model.load(DS3, TestModels.spec(DS3))) {
            int[] kept = {0, 4, 8, 9, 12};
            ExpertMask mask = ExpertMask.of(Map.of(1, kept, 2, kept), 16);
            RoutingTieCounter ties = new RoutingTieCounter(m, mask);
            int[][] chosen = new int[1][];
            m.forward(ObserverAndMaskTest.PROMPT, m.newState(16).withMask(mask).withObserver(t -> {
                ties.onMoeBlock(t);
                if (t.layer() == 2) chosen[0] = java.util.Arrays.copyOf(t.chosen(), 4);
            }), true);
            assertEquals(24, ties.tieDependent());
            java.util.Arrays.sort(chosen[0]);
            assertArrayEquals(new int[]{0, 4, 8, 9}, chosen[0]);   // the lower id wins the tie
        }
    }
}
