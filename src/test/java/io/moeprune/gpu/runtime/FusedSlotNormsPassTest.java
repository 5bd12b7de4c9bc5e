package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The pass with the slot norms computed by the combine's read ({@code -Dmoeprune.fusedSlotNorms=true}, here
 * {@link GpuLayerMajorPass#fusedSlotNorms}) on HostOps: bit-identical to the pass with it off on every conformance
 * fixture and on the shared Qwen3-MoE model (logits of every row, the calibration traces' slot norms of every MoE
 * layer), with F32 and BF16 expert rows.
 */
class FusedSlotNormsPassTest {
    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void fusedEqualsUnfusedOnConformanceFixtures(String fixture) {
        PassComparison.onFixture(fixture, (model, ops, seqs) -> {
            for (ExpertOutputs rows : ExpertOutputs.values()) {
                assertEquals(hash(model, ops, seqs, rows, false), hash(model, ops, seqs, rows, true),
                        fixture + " " + rows);
            }
        });
    }

    @Test
    void fusedEqualsUnfusedOnTheSharedQwen3Model() throws IOException {
        PassComparison.onSharedQwen3Model((model, ops, seqs) -> assertEquals(
                hash(model, ops, seqs, ExpertOutputs.F32, false), hash(model, ops, seqs, ExpertOutputs.F32, true)));
    }

    /** {@link PassComparison#hash} (every sequence watched: the slot norms are computed) with the switch on or off. */
    private static String hash(Model model, HostOps ops, List<int[]> seqs, ExpertOutputs rows, boolean fused) {
        return PassComparison.hash(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                1L << 30).expertOutputs(rows).fusedSlotNorms(fused), seqs);
    }
}
