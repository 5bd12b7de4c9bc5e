package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.LayerTimes;
import io.moeprune.gpu.runtime.PassComparison;
import io.moeprune.gpu.runtime.ResidentModel;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layer-major pass over resident weights ({@link ResidentModel}) on CUDA, as ResidentPassTest checks it on HostOps:
 * on moe-tiny-7d its logits equal the streamed pass's, the second resident run copies nothing (every layer 0 bytes,
 * 0 s of copy), and the wall times of streamed and resident runs are printed; a bound too small for the whole model
 * streams. Skips without CUDA (bench/device/gpu_tests.sh runs it on the GPU machine).
 */
class ResidentPassCudaTest {
    private static final long BOUND = 8L << 30;

    @Test
    void theResidentPassEqualsTheStreamedOneAndCopiesNothingAfterTheFirstRun() throws IOException {
        Path dir = GpuTestSupport.sharedModel("moe-tiny-7d");
        Assumptions.assumeTrue(dir != null, "the shared model is not in this checkout");
        try (Model model = Models.open(dir); CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
             ResidentModel resident = new ResidentModel(ops, ops.device().limitBytes())) {
            long limit = ops.device().limitBytes();
            List<int[]> seqs = PassComparison.markdownSequences(dir, 16, 128);
            GpuLayerMajorPass streamed = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                    limit).timed();
            GpuLayerMajorPass onResident = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL,
                    ops, limit, resident).timed();
            float[][] expected = logits(streamed, seqs);
            logits(onResident, seqs);   // the first run uploads
            long t0 = System.nanoTime();
            logits(streamed, seqs);
            double streamedSeconds = (System.nanoTime() - t0) / 1e9;
            t0 = System.nanoTime();
            float[][] actual = logits(onResident, seqs);
            double residentSeconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, resident.uploads());
            double worst = 0;
            for (int s = 0; s < seqs.size(); s++) worst = Math.max(worst, PassComparison.relativeError(actual[s], expected[s]));
            double copied = 0;
            for (LayerTimes t : onResident.layerTimes()) {
                assertEquals(0, t.bytesCopied(), t.toString());
                copied += t.copySeconds();
            }
            System.out.printf("resident pass on CUDA, moe-tiny-7d, %d sequences: logits vs streamed %.2e; run %.1f ms "
                    + "streamed, %.1f ms resident (%.2fx); resident copy %.1f ms%n", seqs.size(), worst,
                    streamedSeconds * 1e3, residentSeconds * 1e3, streamedSeconds / residentSeconds, copied * 1e3);
            assertTrue(worst < 1e-4, "logits " + worst);
            assertEquals(0, copied);
        }
    }

    @Test
    void aBoundTooSmallForTheWholeModelStreams() throws IOException {
        Path dir = GpuTestSupport.sharedModel("moe-tiny-7d");
        Assumptions.assumeTrue(dir != null, "the shared model is not in this checkout");
        // The cuBLAS workspace (32 MB) and two slots of ~6.7 MB fit 56 MB; the eight layers beside them do not.
        try (Model model = Models.open(dir); CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(56L << 20));
             ResidentModel resident = new ResidentModel(ops, ops.device().limitBytes())) {
            long limit = ops.device().limitBytes();
            List<int[]> seqs = PassComparison.markdownSequences(dir, 16, 128);
            float[][] expected = logits(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                    limit), seqs);
            float[][] actual = logits(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                    limit, resident), seqs);
            assertEquals(0, resident.uploads(), "streamed");
            for (int s = 0; s < seqs.size(); s++) {
                double e = PassComparison.relativeError(actual[s], expected[s]);
                assertTrue(e < 1e-4, "sequence " + s + ": " + e);
            }
        }
    }

    private static float[][] logits(GpuLayerMajorPass pass, List<int[]> seqs) {
        float[][] out = new float[seqs.size()][];
        pass.run(seqs, null, (s, l) -> out[s] = l, LayerMajorListener.NONE);
        return out;
    }
}
