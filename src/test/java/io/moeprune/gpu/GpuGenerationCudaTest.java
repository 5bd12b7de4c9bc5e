package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.DecodeRouting;
import io.moeprune.gpu.runtime.GenerationComparison;
import io.moeprune.gpu.runtime.GpuDecoder;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.gpu.runtime.GreedyComparison;
import io.moeprune.gpu.runtime.PassComparison;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generation on CUDA ({@link GpuGeneration} over {@link CudaOps}) against the CPU's Generator, as GpuGenerationTest
 * checks it on HostOps in CI: greedy tokens equal except at near ties (counted), logits within 3e-2 (fixtures) and
 * 1e-2 (the trained shared models) up to a divergence, except at steps whose router margin is near a tie, where the
 * device may take another expert ({@link GenerationComparison#FLIP_MARGIN}: within 0.1, printed with the margins).
 * Skips without CUDA (bench/device/gpu_tests.sh runs it).
 */
class GpuGenerationCudaTest {
    private static final Path FIXTURES = Path.of("src/test/resources/conformance");
    private static final long BOUND = 8L << 30;

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void conformanceFamilies(String fixture) {
        try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
             GpuGeneration gen = new GpuGeneration(ops, BOUND);
             Model model = Models.open(FIXTURES.resolve(fixture))) {
            int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 9).getFirst();
            GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 8);
            System.out.println(fixture + " generation on CUDA: " + r);
            GenerationComparison.assertBounds(fixture, r, 3e-2);
        }
    }

    @Test
    void sharedModels() throws IOException {
        for (String name : new String[]{"moe-tiny-7d", "moe-tiny-7d-ds3"}) {
            Path dir = GpuTestSupport.sharedModel(name);
            Assumptions.assumeTrue(dir != null, name + " is not in this checkout");
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
                 GpuGeneration gen = new GpuGeneration(ops, BOUND); Model model = Models.open(dir)) {
                int same = 0, diverged = 0;
                for (int[] prompt : PassComparison.markdownSequences(dir, 8, 64)) {
                    GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 24);
                    System.out.println(name + " generation on CUDA: " + r);
                    GenerationComparison.assertBounds(name, r, 1e-2);
                    if (r.divergedAt() < 0) same++;
                    else diverged++;
                }
                System.out.println(name + " generation on CUDA: " + same + " prompts with the CPU's tokens, "
                        + diverged + " diverged at a near tie");
            }
        }
    }

    /**
     * {@code -Dmoeprune.decodeRouting=device} (the decode steps' experts' counts read on the device by
     * grouped_gemv_routed): the same bounds against the CPU, on two fixtures and three prompts of each shared model.
     */
    @Test
    void deviceCountsDecodeWithinTheBounds() throws IOException {
        for (String fixture : new String[]{"qwen3_moe", "deepseek_v3"}) {
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
                 GpuGeneration gen = new GpuGeneration(ops, BOUND).decodeRouting(DecodeRouting.DEVICE);
                 Model model = Models.open(FIXTURES.resolve(fixture))) {
                int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 9).getFirst();
                GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 8);
                System.out.println(fixture + " generation on CUDA, counts on the device: " + r);
                GenerationComparison.assertBounds(fixture, r, 3e-2);
            }
        }
        for (String name : new String[]{"moe-tiny-7d", "moe-tiny-7d-ds3"}) {
            Path dir = GpuTestSupport.sharedModel(name);
            Assumptions.assumeTrue(dir != null, name + " is not in this checkout");
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
                 GpuGeneration gen = new GpuGeneration(ops, BOUND).decodeRouting(DecodeRouting.DEVICE);
                 Model model = Models.open(dir)) {
                for (int[] prompt : PassComparison.markdownSequences(dir, 3, 64)) {
                    GenerationComparison.Result r =
                            GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 24);
                    System.out.println(name + " generation on CUDA, counts on the device: " + r);
                    GenerationComparison.assertBounds(name, r, 1e-2);
                }
            }
        }
    }
    /**
     * A batched decode of 4 sequences (up to 4 rows an expert) on the shared models with the counts on the device
     * against the gemv path with the host's counts: both run grouped_gemv_rows on the same rows, so the logits should
     * be the same bits (held to 1e-6, printed whether identical).
     */
    @Test
    void deviceCountsDecodeAsTheGemvPathInABatch() {
        for (String name : new String[]{"moe-tiny-7d", "moe-tiny-7d-ds3"}) {
            Path dir = GpuTestSupport.sharedModel(name);
            Assumptions.assumeTrue(dir != null, name + " is not in this checkout");
            try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND)); Model model = Models.open(dir)) {
                ops.groupedPath(CudaOps.GroupedPath.GEMV);
                List<int[]> prompts = PassComparison.randomSequences(model.spec().vocabSize(), 9, 12, 7, 10);
                List<float[]> host = batchSteps(ops, model, prompts, DecodeRouting.HOST);
                List<float[]> device = batchSteps(ops, model, prompts, DecodeRouting.DEVICE);
                for (int t = 0; t < host.size(); t++) {
                    double err = PassComparison.relativeError(device.get(t), host.get(t));
                    System.out.println(name + " batched step " + t + ", counts on the device against the gemv path: "
                            + "rel.err " + err + (Arrays.equals(device.get(t), host.get(t)) ? " (identical)" : ""));
                    assertTrue(err < 1e-6, name + " step " + t + ": " + err);
                }
            }
        }
    }

    /**
     * Greedy decoding on the device (greedy_tokens after the LM head, 8 bytes a sequence downloaded) against the host's
     * argmax of the logits path: the same tokens at every step, one sequence and a batch of four (then slots 2 and 0),
     * on fixtures (granitemoe divides its logits) and the shared models.
     */
    @Test
    void greedyTokensOnTheDeviceEqualTheLogitsPathsArgmax() {
        try (CudaOps ops = new CudaOps(GpuTestSupport.openOrSkip(BOUND));
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            for (String fixture : new String[]{"qwen3_moe", "granitemoe", "deepseek_v3"}) {
                try (Model model = Models.open(FIXTURES.resolve(fixture))) {
                    int vocab = model.spec().vocabSize();
                    GreedyComparison.compare(gen, model, PassComparison.randomSequences(vocab, 9), 5);
                    GreedyComparison.compare(gen, model, PassComparison.randomSequences(vocab, 9, 4, 12, 7), 5);
                    System.out.println(fixture + " greedy tokens on CUDA: the logits path's argmax, 5 steps");
                }
            }
            for (String name : new String[]{"moe-tiny-7d", "moe-tiny-7d-ds3"}) {
                Path dir = GpuTestSupport.sharedModel(name);
                if (dir == null) continue;
                try (Model model = Models.open(dir)) {
                    List<int[]> prompts = PassComparison.markdownSequences(dir, 4, 48);
                    GreedyComparison.compare(gen, model, prompts.subList(0, 1), 8);
                    int[][] stepped = GreedyComparison.compare(gen, model, prompts, 8);
                    System.out.println(name
                            + " greedy tokens on CUDA: the logits path's argmax, 8 steps of 4 sequences: "
                            + Arrays.deepToString(stepped));
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Five decode steps of a batch of {@code prompts}, each fed its own greedy tokens: every step's logits. */
    private static List<float[]> batchSteps(CudaOps ops, Model model, List<int[]> prompts, DecodeRouting routing) {
        int n = prompts.size();
        List<float[]> steps = new ArrayList<>();
        try (GpuGeneration gen = new GpuGeneration(ops, BOUND).decodeRouting(routing);
             GpuDecoder decoder = gen.openBatch(model, ExpertMask.NONE, n, 32)) {
            int[] next = new int[n];
            for (int s = 0; s < n; s++) {
                float[] logits = decoder.prefill(s, prompts.get(s));
                next[s] = Sampler.argmax(logits, 0, logits.length);
            }
            for (int t = 0; t < 5; t++) {
                float[] logits = decoder.decodeAll(next);
                steps.add(logits);
                int vocab = logits.length / n;
                for (int s = 0; s < n; s++) next[s] = Sampler.argmax(logits, s * vocab, vocab);
            }
        }
        return steps;
    }
}
