package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GenerationComparison;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.gpu.runtime.PassComparison;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;

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
}
