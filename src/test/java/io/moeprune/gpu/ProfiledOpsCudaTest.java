package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.ops.OpProfile;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.PassComparison;
import io.moeprune.gpu.runtime.ScoreComparison;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The per-operation profile ({@code -Dmoeprune.gpuOps=true}) on CUDA: a perplexity pass of the qwen3_moe fixture
 * profiled computes the same scores bit for bit as unprofiled, its operations are those HostOps counts (same names,
 * same calls), each timed, and the operations and the stream's idle gaps add up to the stream's time; the second run,
 * over the timing events the first released ({@code CudaOps.releaseMarks}), the same. A watched pass's observer copies
 * are timed on the download stream, in its own profile, none on the compute stream's. Skips without CUDA
 * (bench/device/gpu_tests.sh runs it on the GPU machine).
 */
class ProfiledOpsCudaTest {
    private static final long BOUND = 1L << 30;

    @Test
    void theProfileOnCudaCountsWhatHostOpsCountsAndChangesNoResult() {
        try (CudaOps cuda = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); HostOps host = new HostOps(BOUND);
             Model model = Models.open(Path.of("src/test/resources/conformance/qwen3_moe"))) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 17, 33);
            int[] first = new int[seqs.size()];
            TokenScores[] plain = ScoreComparison.scores(pass(model, cuda), seqs, first);
            GpuLayerMajorPass profiled = pass(model, cuda).opsProfiled();
            for (int run = 0; run < 2; run++) {
                TokenScores[] seen = ScoreComparison.scores(profiled, seqs, first);
                for (int s = 0; s < seqs.size(); s++) assertArrayEquals(plain[s].nll(), seen[s].nll());
            }
            OpProfile p = profiled.opProfile();
            GpuLayerMajorPass reference = pass(model, host).opsProfiled();
            ScoreComparison.scores(reference, seqs, first);
            OpProfile h = reference.opProfile();
            System.out.println("qwen3_moe perplexity on CUDA, operations:\n" + p.table());
            for (OpProfile.Op op : h.ops()) {
                assertEquals(op.calls(), p.calls(op.name()), op.name() + ":\n" + p.table());
                assertTrue(p.seconds(op.name()) >= 0, op.name() + " timed:\n" + p.table());
            }
            assertEquals(h.ops().size(), p.ops().size(), p.table());
            for (String product : List.of("linear qkv", "grouped gate|up", "linear lm_head", "token_scores")) {
                assertTrue(p.seconds(product) > 0, product + " timed:\n" + p.table());
            }
            double summed = p.ops().stream().mapToDouble(OpProfile.Op::seconds).sum() + p.gapSeconds();
            // Each elapsed time is read to about 0.5 µs: the sum of a few hundred within 10 % and 0.2 ms.
            assertEquals(p.streamSeconds(), summed, 0.1 * p.streamSeconds() + 2e-4, p.table());
        }
    }

    @Test
    void theObserversCopiesAreTimedOnTheDownloadStream() {
        try (CudaOps cuda = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
             Model model = Models.open(Path.of("src/test/resources/conformance/qwen3_moe"))) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 17, 33);
            GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, cuda,
                    BOUND).opsProfiled();
            pass.run(seqs, s -> new MoeObserver() {
                @Override
                public void onMoeBlock(MoeTrace t) {
                }

                @Override
                public boolean readsResidual() {
                    return false;
                }

                @Override
                public boolean runsOffThread() {
                    return true;
                }
            }, (s, l) -> { }, LayerMajorListener.NONE);
            OpProfile compute = pass.opProfile(), download = pass.downloadOpProfile();
            String tables = compute.table() + "download stream:\n" + download.table();
            System.out.println("qwen3_moe calibration on CUDA, compute stream:\n" + tables);
            int copies = 5 * model.spec().moeLayers().size();   // one chunk: logits, ids, weights, norms, turns a layer
            assertEquals(copies, download.calls("download_queued"), tables);
            assertTrue(download.seconds("download_queued") > 0, tables);
            assertEquals(0, compute.calls("download_queued"), tables);
        }
    }

    private static GpuLayerMajorPass pass(Model model, DeviceOps ops) {
        return new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops, BOUND)
                .fusedPrologue(true);
    }
}
