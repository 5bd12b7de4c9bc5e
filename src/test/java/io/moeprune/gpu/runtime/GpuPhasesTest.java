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
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A profiled pass on HostOps (everything runs as it is queued, so the stream's marks are the host's clock): every
 * step of the chunk has time, the phases that add up do to about the run's wall, and an unprofiled pass has none.
 */
class GpuPhasesTest {
    private static final Path FP8 = Path.of("src/test/resources/conformance/deepseek_v3_fp8");

    @Test
    void theProfilesPhasesAddUpToAboutTheWall() {
        try (Model model = Models.open(FP8); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 3, 17, 5);
            GpuLayerMajorPass plain = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops,
                    1L << 30);
            plain.run(seqs, s -> null, (s, l) -> { }, LayerMajorListener.NONE);
            if (!GpuPhases.ON) assertNull(plain.phaseProfile());

            GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops,
                    1L << 30).profiled();
            pass.run(seqs, s -> null, (s, l) -> { }, LayerMajorListener.NONE);
            GpuPhaseProfile p = pass.phaseProfile();
            String table = p.table();
            for (String phase : List.of("allocations", "first_staging", "embeddings", "weights", "chunk_inputs",
                    "attention", "routing", "experts", "combine", "shared_expert", "finite_check", "finish", "lm_head")) {
                assertTrue(p.seconds(phase) > 0, phase + " has no time:\n" + table);
                assertTrue(table.contains(phase + " "), table);
            }
            assertEquals(0, p.seconds("observers"), "no observer");
            // Loose: the run's few unmarked stretches (closing its buffers) are not in any phase.
            assertTrue(p.addingSeconds() <= p.wallSeconds() * 1.001 && p.addingSeconds() >= 0.8 * p.wallSeconds(),
                    table);
        }
    }
}
