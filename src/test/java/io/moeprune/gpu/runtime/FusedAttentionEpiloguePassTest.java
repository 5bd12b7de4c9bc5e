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
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pass with the passes around the attention kernel cut ({@code -Dmoeprune.fusedAttentionEpilogue=true}, here
 * {@link GpuLayerMajorPass#fusedAttentionEpilogue}) on HostOps: bit-identical to the pass with it off on every
 * conformance fixture and on the shared Qwen3-MoE model (logits of every row, slot norms of every MoE layer), with
 * the fused prologue on and off; the decoder likewise. The fixtures take every branch: the q/k norms with the rope
 * (qwen3_moe), o_proj into the residual (no multiplier, no bias) and the old add where a multiplier (granitemoe) or an
 * o_proj bias (gpt_oss) keeps it.
 */
class FusedAttentionEpiloguePassTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void onEqualsOffOnConformanceFixtures(String fixture) {
        PassComparison.onFixture(fixture, (model, ops, seqs) -> {
            for (boolean prologue : new boolean[]{true, false}) {
                assertEquals(hash(model, ops, seqs, prologue, false), hash(model, ops, seqs, prologue, true),
                        fixture + (prologue ? "" : ", prologue unfused"));
            }
        });
    }

    @Test
    void theFixturesTakeEveryBranch() {
        assertTrue(layers("qwen3_moe").stream().anyMatch(FusedAttentionEpiloguePassTest::normsWithRope),
                "qwen3_moe: per-head q/k norms with the rope");
        assertTrue(layers("qwen3_moe").stream().allMatch(FusedAttentionEpiloguePassTest::intoResidual),
                "qwen3_moe: o_proj into the residual");
        assertTrue(layers("granitemoe").stream().noneMatch(FusedAttentionEpiloguePassTest::intoResidual),
                "granitemoe: a residual multiplier keeps the add");
        assertTrue(layers("gpt_oss").stream().noneMatch(FusedAttentionEpiloguePassTest::intoResidual),
                "gpt_oss: o_proj's bias keeps the add");
        assertFalse(layers("olmoe").stream().anyMatch(FusedAttentionEpiloguePassTest::normsWithRope),
                "olmoe: whole-projection norms and clip_qkv keep the rope apart");
    }

    @Test
    void onEqualsOffOnTheSharedQwen3Model() throws IOException {
        PassComparison.onSharedQwen3Model((model, ops, seqs) -> {
            assertTrue(LayerPlan.of(model).stream().allMatch(l -> normsWithRope(l) && intoResidual(l)),
                    "moe-tiny-7d takes the whole epilogue");
            assertEquals(hash(model, ops, seqs, true, false), hash(model, ops, seqs, true, true));
        });
    }

    /** The decoder (its prefill and decode steps keep F32 attention rows, the rest of the epilogue applies). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "gpt_oss", "granitemoe", "deepseek_v3"})
    void theDecoderDecodesTheSameBits(String fixture) {
        long bound = 1L << 30;
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps ops = new HostOps(bound); GpuGeneration gen = new GpuGeneration(ops, bound)) {
            int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 9).getFirst();
            List<float[]> off = new ArrayList<>(), on = new ArrayList<>();
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedAttentionEpilogue(false), prompt, 4, off);
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedAttentionEpilogue(true), prompt, 4, on);
            assertEquals(off.size(), on.size(), fixture);
            for (int i = 0; i < off.size(); i++) assertArrayEquals(off.get(i), on.get(i), fixture + " step " + i);
        }
    }

    private static List<LayerPlan> layers(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture))) {
            return LayerPlan.of(model);
        }
    }

    /** As AttentionStep decides: GQA with per-head q/k norms and no clip between them and the rope. */
    private static boolean normsWithRope(LayerPlan l) {
        return l.attention() instanceof LayerPlan.Gqa g && g.qNorm() != null
                && g.parts().qkNormKind() == AttentionSpec.QkNorm.PER_HEAD && Float.isNaN(g.parts().clip());
    }

    private static boolean intoResidual(LayerPlan l) {
        LayerPlan.Projection o = switch (l.attention()) {
            case LayerPlan.Gqa g -> g.o();
            case LayerPlan.Mla m -> m.o();
        };
        return o.bias() == null && l.residualMultiplier() == 1f;
    }

    /** {@link PassComparison#hash} of the pass with the prologue and the epilogue fused or not. */
    private static String hash(Model model, HostOps ops, List<int[]> seqs, boolean prologue, boolean epilogue) {
        return PassComparison.hash(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                1L << 30).fusedPrologue(prologue).fusedAttentionEpilogue(epilogue), seqs);
    }
}
