package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.ops.OpProfile;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-operation profile ({@code -Dmoeprune.gpuOps=true}) of a perplexity pass on HostOps: the qwen3_moe fixture
 * (3 layers, layer 1 dense; one chunk) calls each product once per layer it has, named by its role, the LM head and
 * the token scores are in it, the operations and the idle gaps add up to the stream's time, the scores are those of
 * an unprofiled pass, and an unprofiled pass has no profile. A watched pass's observer copies are in the download
 * stream's profile, not the compute stream's (on the compute stream with {@code -Dmoeprune.observerDownloads=
 * compute-stream}).
 */
class OpProfileTest {
    private static final long BOUND = 1L << 30;

    @Test
    void aPerplexityPassCountsEachOperationByItsRole() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps ops = new HostOps(BOUND)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 17);
            GpuLayerMajorPass plain = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops,
                    BOUND).fusedPrologue(true);
            TokenScores[] expected = scores(plain, seqs);
            if (!io.moeprune.gpu.ops.ProfiledOps.ON) assertNull(plain.opProfile(), "off: no profile");

            GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops,
                    BOUND).fusedPrologue(true).fusedEpilogue(false)
                    .fusedAttentionEpilogue(false).opsProfiled();   // the unfused operations, each counted
            for (int run = 0; run < 2; run++) {   // the second run's profile is its own, not the sum of both
                TokenScores[] seen = scores(pass, seqs);
                for (int s = 0; s < seqs.size(); s++) {
                    assertArrayEquals(expected[s].nll(), seen[s].nll(), "the same scores profiled");
                }
            }
            OpProfile p = pass.opProfile();
            String table = p.table();
            System.out.println("qwen3_moe perplexity on HostOps, operations:\n" + table);
            // One chunk: a finite check per layer; two MoE layers (0 and 2), one dense (1).
            Map<String, Integer> calls = Map.of("non_finite", 3, "linear qkv", 3, "linear o_proj", 3,
                    "linear_f32 router", 2, "grouped gate|up", 2, "grouped down", 2, "gather_rows_bf16", 2,
                    "combine_slots", 2, "linear mlp gate|up", 1, "linear mlp down", 1);
            calls.forEach((name, n) -> assertEquals(n, p.calls(name), name + ":\n" + table));
            assertEquals(3, p.calls("attention"), table);
            assertEquals(6, p.calls("rope"), "two a layer (queries, keys):\n" + table);
            // The LM head and the scores, queued per sequence (its rows fit one block).
            assertEquals(2, p.calls("linear lm_head"), table);
            assertEquals(2, p.calls("token_scores"), table);
            assertTrue(p.seconds("grouped gate|up") > 0, table);
            int all = p.ops().stream().mapToInt(OpProfile.Op::calls).sum();
            assertEquals(all - 1, p.gaps(), table);
            assertEquals(all - 1, p.gapsAfter().stream().mapToInt(OpProfile.Op::calls).sum(), table);
            assertEquals(p.gapSeconds(), p.gapsAfter().stream().mapToDouble(OpProfile.Op::seconds).sum(), 1e-9, table);
            // Gaps after waiting downloads: the expertStart's, one a MoE layer, and the finite flags' before the LM
            // head (the scores' own download is the last operation: no gap after it).
            assertEquals(3, p.gapsAfter().stream().filter(o -> o.name().equals("download (waits)"))
                    .mapToInt(OpProfile.Op::calls).sum(), table);
            double summed = p.ops().stream().mapToDouble(OpProfile.Op::seconds).sum() + p.gapSeconds();
            assertEquals(p.streamSeconds(), summed, 1e-6, "operations and gaps cover the stream:\n" + table);
            for (int i = 1; i < p.ops().size(); i++) {
                assertTrue(p.ops().get(i - 1).seconds() >= p.ops().get(i).seconds(), "sorted by total:\n" + table);
            }
            for (String line : List.of("operation ", "linear_f32 router ", "token_scores ", "idle gaps ",
                    "  idle after ",
                    "stream ")) {
                assertTrue(table.contains(line), line + ":\n" + table);
            }
        }
    }

    @Test
    void productsWithoutARoleAreNamedByTheirShape() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps ops = new HostOps(BOUND)) {
            GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops,
                    BOUND).fusedPrologue(false).opsProfiled();
            scores(pass, PassComparison.randomSequences(model.spec().vocabSize(), 5));
            OpProfile p = pass.opProfile();
            // Unfused, q, k and v each their own product; k and v share a shape [32, 64], q and o [64, 64].
            assertEquals(3, p.calls("linear k_proj/v_proj") / 2, p.table());
            assertEquals(0, p.calls("linear qkv"), p.table());
            assertEquals(6, p.calls("linear q_proj/o_proj"), p.table());
        }
    }

    @Test
    void theObserversCopiesAreTheDownloadStreamsOperations() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps ops = new HostOps(BOUND)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 17);
            // One chunk, two MoE layers, every sequence watched: five copies (logits, ids, weights, norms, turns) a
            // MoE layer, the residual (read by this observer) on the compute stream before the epilogue adds into it.
            int copies = 5 * model.spec().moeLayers().size(), residuals = model.spec().moeLayers().size();
            for (ObserverDownloadMode mode : ObserverDownloadMode.values()) {
                GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE,
                        ops, BOUND).observerDownloads(mode).opsProfiled();
                pass.run(seqs, s -> t -> { }, (s, l) -> { }, LayerMajorListener.NONE);
                OpProfile compute = pass.opProfile(), download = pass.downloadOpProfile();
                String tables = mode + ", compute stream:\n" + compute.table() + "download stream:\n"
                        + download.table();
                if (mode == ObserverDownloadMode.DOWNLOAD_STREAM) {
                    assertEquals(copies, download.calls("download_queued"), tables);
                    assertEquals(copies, download.ops().stream().mapToInt(OpProfile.Op::calls).sum(), tables);
                    assertEquals(residuals, compute.calls("download_queued"), tables);
                } else {
                    assertEquals(copies + residuals, compute.calls("download_queued"), tables);
                    assertTrue(download.ops().isEmpty(), tables);
                }
                int all = compute.ops().stream().mapToInt(OpProfile.Op::calls).sum();
                assertEquals(all - 1, compute.gaps(), tables);
            }
        }
    }

    private static TokenScores[] scores(GpuLayerMajorPass pass, List<int[]> seqs) {
        return ScoreComparison.scores(pass, seqs, new int[seqs.size()]);
    }
}
