package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generation on the device ({@link GpuGeneration}, {@link GpuDecoder}) on {@link HostOps}: each decode step's logits
 * equal the layer-major pass's logits of the same prefix (the KV cache path and the prefill path are the same
 * arithmetic), greedy tokens equal the CPU Generator's except at near ties (counted), the device-side finite check
 * names the layer and position as the CPU does, and a model that does not fit is one line.
 */
class GpuGenerationTest {
    private static final long BOUND = 1L << 30;
    private static final String[] FIXTURES = {"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral",
            "granitemoe", "gpt_oss", "gpt_oss_mxfp4", "deepseek_v2", "deepseek_v3", "deepseek_v3_fp8"};

    private static Model open(String fixture) {
        return Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
    }

    private static int[] prompt(Model model, int length) {
        return PassComparison.randomSequences(model.spec().vocabSize(), length).getFirst();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void decodeStepsEqualThePrefillPassOfTheSamePrefix(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int[] prompt = prompt(model, 7);
            List<float[]> steps = new ArrayList<>();
            int[] tokens = GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 5, steps);
            int[] all = Arrays.copyOf(prompt, prompt.length + tokens.length - 1);
            System.arraycopy(tokens, 0, all, prompt.length, tokens.length - 1);
            float[][] pass = new float[1][];
            new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops, BOUND)
                    .run(List.of(all), null, (s, logits) -> pass[0] = logits, io.moeprune.runtime.LayerMajorListener.NONE);
            int vocab = steps.getFirst().length;
            for (int s = 0; s < steps.size(); s++) {
                int row = prompt.length - 1 + s;
                float[] expected = Arrays.copyOfRange(pass[0], row * vocab, (row + 1) * vocab);
                double err = PassComparison.relativeError(steps.get(s), expected);
                assertTrue(err < 1e-5, fixture + " step " + s + ": " + err);
            }
        }
    }

    /** A batched decode step (all sequences' rows at once, attention per sequence) equals each sequence's own steps. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "gpt_oss", "deepseek_v3"})
    void aBatchedDecodeEqualsEachSequencesOwn(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            List<int[]> prompts = PassComparison.randomSequences(model.spec().vocabSize(), 5, 9, 2);
            int steps = 3, n = prompts.size();
            List<float[]> alone = new ArrayList<>();
            int[][] tokens = new int[n][steps + 1];
            for (int s = 0; s < n; s++) {
                try (DecodeSteps one = gen.open(model, ExpertMask.NONE, 16)) {
                    float[] logits = one.prefill(prompts.get(s));
                    for (int t = 0; t <= steps; t++) {
                        tokens[s][t] = io.moeprune.runtime.Sampler.argmax(logits, 0, logits.length);
                        if (t < steps) alone.add(logits = one.decode(tokens[s][t]));
                    }
                }
            }
            try (GpuDecoder batch = gen.openBatch(model, ExpertMask.NONE, n, 16)) {
                for (int s = 0; s < n; s++) batch.prefill(s, prompts.get(s));
                for (int t = 0; t < steps; t++) {
                    int[] step = new int[n];
                    for (int s = 0; s < n; s++) step[s] = tokens[s][t];
                    float[] logits = batch.decodeAll(step);
                    int vocab = logits.length / n;
                    for (int s = 0; s < n; s++) {
                        double err = PassComparison.relativeError(
                                Arrays.copyOfRange(logits, s * vocab, (s + 1) * vocab), alone.get(s * steps + t));
                        assertTrue(err < 1e-5, fixture + " sequence " + s + " step " + t + ": " + err);
                    }
                }
            }
        }
    }

    /**
     * {@code -Dmoeprune.expertOutputs=bf16} reaches the decoder (its chunk buffers are sized when a generation opens):
     * the steps' logits move from the F32 run's, and stay within the CPU comparison's bounds.
     */
    @Test
    void bf16ExpertOutputsReachTheDecoderWithinTheBounds() {
        String before = System.getProperty(ExpertOutputs.PROPERTY);
        try (Model model = open("qwen3_moe"); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int[] prompt = prompt(model, 9);
            List<float[]> f32 = new ArrayList<>(), bf16 = new ArrayList<>();
            System.setProperty(ExpertOutputs.PROPERTY, "f32");
            GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 4, f32);
            System.setProperty(ExpertOutputs.PROPERTY, "bf16");
            GenerationComparison.generate(model, ExpertMask.NONE, gen, prompt, 4, bf16);
            assertFalse(Arrays.equals(f32.getFirst(), bf16.getFirst()), "the prompt's logits moved");
            GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 8);
            System.out.println("qwen3_moe generation, BF16 expert outputs: " + r);
            GenerationComparison.assertBounds("qwen3_moe bf16", r, 3e-2);
        } finally {
            if (before == null) System.clearProperty(ExpertOutputs.PROPERTY);
            else System.setProperty(ExpertOutputs.PROPERTY, before);
        }
    }

    /** The fused prologue ({@code -Dmoeprune.fusedPrologue=true}) in the decoder: the same bits as without it. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "gpt_oss", "olmoe"})
    void theFusedPrologueDecodesTheSameBits(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int[] prompt = prompt(model, 9);
            List<float[]> unfused = new ArrayList<>(), fused = new ArrayList<>();
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedPrologue(false), prompt, 4, unfused);
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedPrologue(true), prompt, 4, fused);
            assertEquals(unfused.size(), fused.size(), fixture);
            for (int i = 0; i < unfused.size(); i++) {
                assertArrayEquals(unfused.get(i), fused.get(i), fixture + " step " + i);
            }
        }
    }

    /** The fused MoE epilogue ({@code -Dmoeprune.fusedEpilogue=true}) in the decoder: the same bits as without it. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "granitemoe", "deepseek_v3"})
    void theFusedEpilogueDecodesTheSameBits(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int[] prompt = prompt(model, 9);
            List<float[]> unfused = new ArrayList<>(), fused = new ArrayList<>();
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedEpilogue(false), prompt, 4, unfused);
            GenerationComparison.generate(model, ExpertMask.NONE, gen.fusedEpilogue(true), prompt, 4, fused);
            assertEquals(unfused.size(), fused.size(), fixture);
            for (int i = 0; i < unfused.size(); i++) {
                assertArrayEquals(unfused.get(i), fused.get(i), fixture + " step " + i);
            }
        }
    }

    @Test
    void greedyTokensEqualTheCpusExceptNearTiesOnTheFixtures() {
        int diverged = 0;
        for (String fixture : FIXTURES) {
            try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
                 GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
                GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen,
                        prompt(model, 9), 8);
                System.out.println(fixture + " generation: " + r);
                GenerationComparison.assertBounds(fixture, r, 3e-2);
                if (r.divergedAt() >= 0) diverged++;
            }
        }
        System.out.println("generation: " + diverged + " of " + FIXTURES.length + " fixtures diverged at a near tie");
    }

    @Test
    void greedyTokensEqualTheCpusOnTheSharedModel() throws IOException {
        Path dir = GpuLayerMajorPassTest.SHARED.resolve("moe-tiny-7d");
        Path data = GpuLayerMajorPassTest.DATA.resolve("medical.dev.jsonl");
        Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isRegularFile(data), "shared test bed absent: " + dir);
        try (Model model = Models.open(dir); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int diverged = 0, same = 0;
            for (int[] prompt : PassComparison.documentSequences(dir, data, 3, 24)) {
                GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, prompt, 12);
                System.out.println("moe-tiny-7d generation: " + r);
                GenerationComparison.assertBounds("moe-tiny-7d", r, 1e-2);
                if (r.divergedAt() >= 0) diverged++;
                else same++;
            }
            System.out.println("moe-tiny-7d: " + same + " prompts with the CPU's tokens, " + diverged + " diverged at a near tie");
            // GpuGenerationCudaTest's first prompt: on the H100 its step 11 moved 5.2e-2, on HostOps the same step
            // 5.2e-2 too (router margin 3.6e-3 at layer 7), steps 5, 6 and 15 1.3e-2 to 1.8e-2: near ties.
            int[] paragraph = PassComparison.markdownSequences(dir, 1, 64).getFirst();
            GenerationComparison.Result r = GenerationComparison.compare(model, ExpertMask.NONE, gen, paragraph, 24);
            System.out.println("moe-tiny-7d generation, Markdown paragraph 0: " + r);
            GenerationComparison.assertBounds("moe-tiny-7d", r, 1e-2);
        }
    }

    @Test
    void aMaskRoutesOnlyToKeptExpertsAsOnTheCpu() {
        try (Model model = open("qwen3_moe"); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            int layers = model.spec().numLayers(), experts = model.spec().moe().numExperts();
            java.util.Map<Integer, int[]> kept = new java.util.HashMap<>();
            for (int l = 0; l < layers; l++) kept.put(l, java.util.stream.IntStream.range(0, experts).filter(e -> e % 2 == 0).toArray());
            ExpertMask mask = ExpertMask.of(kept, experts);
            GenerationComparison.Result masked = GenerationComparison.compare(model, mask, gen, prompt(model, 9), 6);
            System.out.println("qwen3_moe masked generation: " + masked);
            GenerationComparison.assertBounds("qwen3_moe masked", masked, 3e-2);
        }
    }

    /** What --device cuda installs: Generator (generate, eval's generation tasks) then runs on the device. */
    @Test
    void theGeneratorRunsOnTheProcesssDevice() {
        try (Model model = open("qwen3_moe"); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            GenerationComparison.Recording recording = new GenerationComparison.Recording(gen);
            io.moeprune.runtime.PrefillPasses.use(io.moeprune.runtime.PrefillPasses.CPU, recording, "host");
            try {
                int[] tokens = new io.moeprune.runtime.Generator(model, ExpertMask.NONE)
                        .generate(prompt(model, 5), 3, io.moeprune.runtime.Sampler.greedy(), List.of(), t -> true).tokens();
                assertEquals(3, tokens.length);
                assertEquals(3, recording.logits.size());   // the prefill and two decode steps ran on the device
                assertTrue(ops.allocatedBytes() > 0, "the weights stay resident for the next generation");
            } finally {
                io.moeprune.runtime.PrefillPasses.reset();
            }
        }
    }

    @Test
    void aModelThatDoesNotFitIsOneLine() {
        try (Model model = open("qwen3_moe"); HostOps ops = new HostOps(64_000);
             GpuGeneration gen = new GpuGeneration(ops, 64_000)) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> gen.open(model, ExpertMask.NONE, 100));
            assertTrue(e.getMessage().startsWith("--gpu-memory 64 KB is too small to generate on the device: the "
                    + "weights need "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
            assertEquals(0, ops.allocatedBytes());
        }
    }

    /** HostOps whose residual add number {@code at} writes NaN into element {@code element} of its x afterwards. */
    static DeviceOps poisoning(HostOps host, int at, long element) {
        AtomicInteger adds = new AtomicInteger();
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    Object r;
                    try {
                        r = method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (method.getName().equals("addScaled") && adds.getAndIncrement() == at) {
                        try (Arena a = Arena.ofConfined()) {
                            MemorySegment nan = a.allocate(4);
                            nan.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                            host.upload(nan, (io.moeprune.gpu.DeviceBuffer) args[0], (long) args[1] + 4 * element);
                        }
                    }
                    return r;
                });
    }

    @Test
    void aNonFiniteLayerOutputIsTheCpusOneLineInThePassAndInGeneration() {
        try (Model model = open("qwen3_moe"); HostOps host = new HostOps(BOUND)) {
            int hidden = model.spec().hiddenSize(), layers = model.spec().numLayers();
            // Two residual adds a layer (the epilogues unfused: fused, they add inside their kernels;
            // FusedEpiloguePassTest poisons those): add 3 is layer 1's feed-forward; element 2·hidden + 5 is token 2's.
            DeviceOps ops = poisoning(host, 3, 2L * hidden + 5);
            MoepruneException e = assertThrows(MoepruneException.class, () ->
                    new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND)
                            .fusedEpilogue(false).fusedAttentionEpilogue(false)
                            .run(List.of(prompt(model, 6)), null, (s, l) -> { }, io.moeprune.runtime.LayerMajorListener.NONE));
            assertTrue(e.getMessage().endsWith("NaN appeared in layer 1 (of " + layers + ") at token position 2: "
                    + "corrupt weights or config.json values"), e.getMessage());
            try (GpuGeneration gen = new GpuGeneration(poisoning(host, 3, 2L * hidden + 5), BOUND)
                    .fusedEpilogue(false).fusedAttentionEpilogue(false);
                 DecodeSteps steps = gen.open(model, ExpertMask.NONE, 16)) {
                e = assertThrows(MoepruneException.class, () -> steps.prefill(prompt(model, 6)));
                assertTrue(e.getMessage().endsWith("NaN appeared in layer 1 (of " + layers + ") at token position 2: "
                        + "corrupt weights or config.json values"), e.getMessage());
            }
        }
    }
}
