package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.model.AttentionSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pass with the attention's prologue fused ({@code -Dmoeprune.fusedPrologue=true}, here
 * {@link GpuLayerMajorPass#fusedPrologue}) on HostOps: bit-identical to the pass with it off on every conformance
 * fixture and on the shared Qwen3-MoE model (logits of every row, slot norms of every MoE layer).
 */
class FusedProloguePassTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void fusedEqualsUnfusedOnConformanceFixtures(String fixture) {
        PassComparison.onFixture(fixture, (model, ops, seqs) ->
                assertEquals(hash(model, ops, seqs, false), hash(model, ops, seqs, true), fixture));
    }

    @Test
    void theQwen3FixtureTakesThePerHeadPath() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"))) {
            assertTrue(perHeadNorms(model), "qwen3_moe has per-head q/k norms: the fused path is exercised");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void qkvMatricesLieBackToBackWithTheirBiasesApart(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture))) {
            for (LayerPlan l : LayerPlan.of(model)) {
                if (!(l.attention() instanceof LayerPlan.Gqa g)) continue;
                long q = g.q().weight().offset(), qBytes = 2L * g.q().out() * g.q().in();
                long kBytes = 2L * g.k().out() * g.k().in(), vBytes = 2L * g.v().out() * g.v().in();
                assertEquals(q + qBytes, g.k().weight().offset(), fixture + " k after q");
                assertEquals(q + qBytes + kBytes, g.v().weight().offset(), fixture + " v after k");
                assertEquals(qBytes + kBytes + vBytes, g.qkvWeight().bytes(), fixture + " [q; k; v]");
                for (LayerPlan.Projection p : new LayerPlan.Projection[]{g.q(), g.k(), g.v()}) {
                    if (p.bias() != null) {
                        assertTrue(p.bias().offset() >= q + g.qkvWeight().bytes(),
                                fixture + " bias after the matrices");
                    }
                }
            }
        }
    }

    @Test
    void fusedEqualsUnfusedOnTheSharedQwen3Model() throws IOException {
        PassComparison.onSharedQwen3Model((model, ops, seqs) -> {
            assertTrue(perHeadNorms(model), "moe-tiny-7d has per-head q/k norms");
            assertEquals(hash(model, ops, seqs, false), hash(model, ops, seqs, true));
        });
    }

    private static boolean perHeadNorms(Model model) {
        return LayerPlan.of(model).stream().anyMatch(l -> l.attention() instanceof LayerPlan.Gqa g
                && g.qNorm() != null && g.parts().qkNormKind() == AttentionSpec.QkNorm.PER_HEAD);
    }

    /** {@link PassComparison#hash} of the pass with the fused prologue on or off. */
    private static String hash(Model model, HostOps ops, List<int[]> seqs, boolean fused) {
        return PassComparison.hash(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                1L << 30).fusedPrologue(fused), seqs);
    }
}
