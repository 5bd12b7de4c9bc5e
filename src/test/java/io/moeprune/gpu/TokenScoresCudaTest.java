package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.ops.ScoreRows;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.PassComparison;
import io.moeprune.gpu.runtime.ScoreComparison;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.TokenScores;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Token scores on CUDA: the {@code token_scores} kernel against HostOps (the CPU's arithmetic) on real vocabulary
 * sizes with ties, non-finite rows and a divisor (hits and flags exact, each loss within 1e-6 of max(1, |loss|): both
 * are the F32 of a double sum, in another order), its time against downloading the logits it scores, and the GPU
 * pass's scores against the CPU's (as GpuTokenScoresTest checks them on HostOps in CI) on the conformance families and
 * the trained shared model, including a small --gpu-memory. Skips without CUDA (bench/device/gpu_tests.sh).
 */
class TokenScoresCudaTest {
    private static final Path FIXTURES = Path.of("src/test/resources/conformance");
    private static final long BOUND = 8L << 30;
    private static final int[] FIRST = {0, 0, 0, 6, 1};

    /** Both kernels ({@code -Dmoeprune.tokenScores=two-pass|one-pass}) against HostOps. */
    @Test
    void theKernelMatchesHostOps() {
        try (CudaOps gpu = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); HostOps host = new HostOps(BOUND)) {
            for (CudaOps.TokenScoresKernel kernel : CudaOps.TokenScoresKernel.values()) {
                gpu.tokenScoresKernel(kernel);
                matchesHostOps(gpu, host, kernel.name().toLowerCase(java.util.Locale.ROOT));
            }
        }
    }

    private static void matchesHostOps(CudaOps gpu, HostOps host, String kernel) {
        for (int vocab : new int[]{1000, 1001, 32768, 151936}) {
            ScoreRows in = ScoreRows.random(vocab, 64, vocab);
            for (float divisor : new float[]{1f, 8f}) {
                Outputs g = run(gpu, in, divisor), h = run(host, in, divisor);
                assertArrayEquals(h.flags(), g.flags(), "flags, vocab " + vocab);
                assertArrayEquals(h.hits(), g.hits(), "hits, vocab " + vocab);
                assertArrayEquals(in.expected(divisor).flags(), h.flags(), "HostOps' flags");
                double err = 0;
                for (int r = 0; r < in.rows(); r++) {
                    err = Math.max(err, Math.abs(g.nll()[r] - h.nll()[r]) / Math.max(1, Math.abs(h.nll()[r])));
                }
                System.out.printf("%-58s err %.2e (limit 1e-6), hits %d of %d%n", "tokenScores " + kernel + " 64x"
                        + vocab + " / " + divisor, err, ScoreRows.count(g.hits()), in.rows());
                assertTrue(err < 1e-6, "vocab " + vocab + ": " + err);
            }
        }
    }

    /** What tokenScores wrote. */
    private record Outputs(float[] nll, int[] hits, int[] flags) {
    }

    private static Outputs run(DeviceOps ops, ScoreRows in, float divisor) {
        DeviceBuffer logits = ops.alloc(4L * in.logits().length, "logits"), targets = ops.alloc(4L * in.rows(), "targets");
        DeviceBuffer out = ops.alloc(12L * in.rows(), "scores");
        try (Arena a = Arena.ofConfined()) {
            ops.upload(a.allocateFrom(JAVA_FLOAT, in.logits()), logits, 0);
            ops.upload(a.allocateFrom(JAVA_INT, in.targets()), targets, 0);
            int n = in.rows();
            ops.tokenScores(logits, n, in.vocab(), targets, divisor, out, view(out, 4L * n), view(out, 8L * n));
            MemorySegment s = a.allocate(12L * n, 4);
            ops.download(out, 0, s);
            return new Outputs(s.asSlice(0, 4L * n).toArray(JAVA_FLOAT), s.asSlice(4L * n, 4L * n).toArray(JAVA_INT),
                    s.asSlice(8L * n, 4L * n).toArray(JAVA_INT));
        } finally {
            ops.free(logits);
            ops.free(targets);
            ops.free(out);
        }
    }

    private static DeviceBuffer view(DeviceBuffer b, long offset) {
        return new DeviceBuffer(b.address() + offset, b.bytes() - offset);
    }

    /**
     * The two kernels' times on a block of Qwen3's logits (2048 rows of 151,936, random as ScoreRows draws them: a
     * block of perplexity's LM head), each the best of 3: the one-pass kernel reads the row once, and must not be
     * slower than the two-pass one.
     */
    @Test
    void theOnePassKernelIsNotSlowerOnQwen3sVocabulary() {
        int rows = 2048, vocab = 151936;
        try (CudaOps gpu = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); Arena a = Arena.ofConfined()) {
            ScoreRows block = ScoreRows.random(3, 64, vocab);
            DeviceBuffer logits = gpu.alloc(4L * rows * vocab, "logits"), targets = gpu.alloc(4L * rows, "targets");
            DeviceBuffer out = gpu.alloc(12L * rows, "scores");
            MemorySegment some = a.allocateFrom(JAVA_FLOAT, block.logits());
            for (int r = 0; r < rows; r += block.rows()) gpu.upload(some, logits, 4L * r * vocab);
            int[] t = new int[rows];
            for (int r = 0; r < rows; r++) t[r] = (r * 7919) % vocab;
            gpu.upload(a.allocateFrom(JAVA_INT, t), targets, 0);
            double[] best = new double[CudaOps.TokenScoresKernel.values().length];
            for (CudaOps.TokenScoresKernel kernel : CudaOps.TokenScoresKernel.values()) {
                gpu.tokenScoresKernel(kernel);
                best[kernel.ordinal()] = Double.MAX_VALUE;
                for (int i = 0; i < 3; i++) {
                    long t0 = gpu.timingMark(false);
                    gpu.tokenScores(logits, rows, vocab, targets, 1f, out, view(out, 4L * rows), view(out, 8L * rows));
                    long t1 = gpu.timingMark(false);
                    best[kernel.ordinal()] = Math.min(best[kernel.ordinal()], gpu.elapsedSeconds(t0, t1));
                }
                System.out.printf("tokenScores %s %dx%d: %.3f ms (%.0f GB/s of logits)%n",
                        kernel.name().toLowerCase(java.util.Locale.ROOT), rows, vocab, best[kernel.ordinal()] * 1e3,
                        logits.bytes() / best[kernel.ordinal()] / 1e9);
            }
            double two = best[CudaOps.TokenScoresKernel.TWO_PASS.ordinal()];
            double one = best[CudaOps.TokenScoresKernel.ONE_PASS.ordinal()];
            assertTrue(one <= 1.05 * two, "one-pass " + one + " s against two-pass " + two + " s");
        }
    }

    /** The kernel's time on a block of logits as the LM head writes them, against downloading that block (F32). */
    @Test
    void scoringABlockTakesLessThanDownloadingIt() {
        int rows = 2048, vocab = 32768;
        try (CudaOps gpu = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); Arena a = Arena.ofConfined()) {
            DeviceBuffer logits = gpu.alloc(4L * rows * vocab, "logits"), targets = gpu.alloc(4L * rows, "targets");
            DeviceBuffer out = gpu.alloc(12L * rows, "scores");
            gpu.zero(logits, 0, logits.bytes());
            gpu.zero(targets, 0, targets.bytes());
            MemorySegment host = a.allocate(logits.bytes(), 64);
            double kernel = Double.MAX_VALUE, download = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long t0 = gpu.timingMark(false);
                gpu.tokenScores(logits, rows, vocab, targets, 1f, out, view(out, 4L * rows), view(out, 8L * rows));
                long t1 = gpu.timingMark(false);
                kernel = Math.min(kernel, gpu.elapsedSeconds(t0, t1));
                long d0 = System.nanoTime();
                gpu.download(logits, 0, host);
                download = Math.min(download, (System.nanoTime() - d0) / 1e9);
            }
            System.out.printf("tokenScores %dx%d: %.3f ms (%.0f GB/s of logits); downloading them (pageable): %.3f ms%n",
                    rows, vocab, kernel * 1e3, logits.bytes() / kernel / 1e9, download * 1e3);
            assertTrue(kernel < download, kernel + " s against " + download + " s");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "olmoe", "mixtral", "granitemoe", "gpt_oss", "gpt_oss_mxfp4",
            "deepseek_v2", "deepseek_v3", "deepseek_v3_fp8"})
    void conformanceFamilies(String fixture) {
        try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
             Model model = Models.open(FIXTURES.resolve(fixture))) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
            ScoreComparison.Result r = ScoreComparison.compare(model, seqs, FIRST, PassComparison.on(ops, BOUND));
            System.out.println(fixture + " token scores on CUDA: " + r);
            assertTrue(r.scoringError() < 1e-6, fixture + " " + r);
            assertEquals(0, r.scoringHits(), fixture + " " + r);
            assertTrue(r.nllError() < 3e-2, fixture + " " + r);
            assertEquals(0, r.differing(), fixture + " " + r);
        }
    }

    @Test
    void theSharedModelScoresAsTheCpuAlsoInASmallBound() throws IOException {
        Path dir = GpuTestSupport.sharedModel("moe-tiny-7d");
        Assumptions.assumeTrue(dir != null, "the shared model is not in this checkout");
        try (Model model = Models.open(dir)) {
            List<int[]> seqs = PassComparison.markdownSequences(dir, 32, 128);
            int[] first = new int[seqs.size()];
            for (int s = 0; s < first.length; s++) first[s] = s % 4 == 3 ? seqs.get(s).length / 2 : 0;
            TokenScores[] large;
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND))) {
                ScoreComparison.Result r = ScoreComparison.compare(model, seqs, first, PassComparison.on(ops, BOUND));
                System.out.println("moe-tiny-7d token scores on CUDA: " + r);
                assertTrue(r.scoringError() < 1e-6, r.toString());
                assertEquals(0, r.scoringHits(), r.toString());
                assertTrue(r.nllError() < 1e-2, r.toString());
                assertEquals(0, r.differing(), r.toString());
                large = ScoreComparison.scores(pass(model, ops, BOUND), seqs, first);
            }
            // As GpuLayerMajorPassCudaTest's small bound: chunks of a few sequences, the LM head in blocks of rows.
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(56L << 20))) {
                TokenScores[] small = ScoreComparison.scores(pass(model, ops, ops.device().limitBytes()), seqs, first);
                for (int s = 0; s < seqs.size(); s++) {
                    double e = Math.abs(small[s].totalNll() - large[s].totalNll()) / large[s].totalNll();
                    // Other chunks, other summation orders through BF16 roundings: 1.3e-3 on an H100 (2026-12-07).
                    assertTrue(e < 5e-3, "sequence " + s + ": " + e);
                }
            }
        }
    }

    private static GpuLayerMajorPass pass(Model model, CudaOps ops, long bound) {
        return new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES, ops, bound);
    }
}
