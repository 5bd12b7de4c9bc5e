package io.moeprune.prune;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class NaturalOrderTest {
    @Test
    void layerAndExpertNumbersSortAsNumbers() {
        List<String> names = new ArrayList<>(List.of("model.layers.10.mlp.gate.weight", "model.layers.2.mlp.experts.10.w1",
                "model.layers.2.mlp.experts.9.w1", "model.layers.2.mlp.experts.09.w2", "lm_head.weight", "model.layers.1.x"));
        names.sort(NaturalOrder::compare);
        assertEquals(List.of("lm_head.weight", "model.layers.1.x", "model.layers.2.mlp.experts.9.w1",
                "model.layers.2.mlp.experts.09.w2", "model.layers.2.mlp.experts.10.w1", "model.layers.10.mlp.gate.weight"), names);
    }
}
