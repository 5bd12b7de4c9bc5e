package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Generator;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Greedy decoding on the device ({@link GpuDecoder#decodeSlotsGreedy}, {@link GpuDecoder#prefillGreedy}) on
 * {@link HostOps}: its tokens equal {@code Sampler.argmax} of the logits path's rows (two decoders stepped with the
 * same tokens) on fixtures (one with a logits divisor) and the shared moe-tiny-7d, for one sequence, a batch and a
 * subset of its slots, over several steps; a tie crafted in the LM head's output goes to the lower index as on the
 * host; a non-finite logit raises the logits path's own message; Generator takes the greedy path when sampling is
 * greedy.
 */
class GreedyDecodingTest {
    private static final long BOUND = 1L << 30;

    private static Model open(String fixture) {
        return Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "granitemoe", "gpt_oss", "deepseek_v3", "mixtral"})
    void greedyTokensEqualTheArgmaxOfTheLogitsPath(String fixture) {
        try (Model model = open(fixture); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            GreedyComparison.compare(gen, model, PassComparison.randomSequences(model.spec().vocabSize(), 7), 4);
            int[][] batch = GreedyComparison.compare(gen, model,
                    PassComparison.randomSequences(model.spec().vocabSize(), 5, 9, 2, 6), 5);
            assertEquals(4, batch[5].length);
            // One sequence through DecodeSteps (what Generator drives): the same tokens either way.
            int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 6).getFirst();
            try (DecodeSteps a = gen.open(model, ExpertMask.NONE, 16);
                 DecodeSteps b = gen.open(model, ExpertMask.NONE, 16)) {
                float[] l = a.prefill(prompt);
                int token = b.prefillGreedy(prompt);
                for (int t = 0; t < 4; t++) {
                    assertEquals(Sampler.argmax(l, 0, l.length), token, fixture + " token " + t);
                    l = a.decode(token);
                    token = b.decodeGreedy(token);
                }
            }
        }
    }

    @Test
    void greedyTokensEqualTheArgmaxOfTheLogitsPathOnTheSharedModel() throws IOException {
        Path dir = GpuLayerMajorPassTest.SHARED.resolve("moe-tiny-7d");
        Path data = GpuLayerMajorPassTest.DATA.resolve("medical.dev.jsonl");
        Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isRegularFile(data), "shared test bed absent: " + dir);
        try (Model model = Models.open(dir); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
            List<int[]> prompts = PassComparison.documentSequences(dir, data, 3, 24);
            GreedyComparison.compare(gen, model, prompts.subList(0, 1), 3);
            int[][] stepped = GreedyComparison.compare(gen, model, prompts, 4);
            System.out.println("moe-tiny-7d greedy tokens on the device, 3 sequences: "
                    + java.util.Arrays.deepToString(stepped));
        }
    }

    /** What Generator gives for greedy sampling: the device's argmax (greedyTokens ran), the logits path's tokens. */
    @Test
    void generatorTakesTheGreedyPathWithTheSameTokens() {
        try (Model model = open("qwen3_moe"); HostOps host = new HostOps(BOUND)) {
            AtomicInteger greedyCalls = new AtomicInteger();
            DeviceOps ops = intercepting(host, (method, args) -> {
                if (method.equals("greedyTokens")) greedyCalls.incrementAndGet();
            });
            try (GpuGeneration gen = new GpuGeneration(ops, BOUND)) {
                int[] prompt = PassComparison.randomSequences(model.spec().vocabSize(), 7).getFirst();
                int[] onDevice = new Generator(model, ExpertMask.NONE, gen)
                        .generate(prompt, 6, Sampler.greedy(), List.of(), t -> true).tokens();
                assertEquals(6, greedyCalls.get(), "the prefill and five decode steps picked on the device");
                GenerationComparison.Recording logits = new GenerationComparison.Recording(gen);
                int[] onHost = new Generator(model, ExpertMask.NONE, logits)
                        .generate(prompt, 6, Sampler.greedy(), List.of(), t -> true).tokens();
                assertEquals(6, logits.logits.size(), "the logits path ran");
                assertArrayEquals(onHost, onDevice);
                // A sampler with a temperature takes the logits: no greedy step.
                new Generator(model, ExpertMask.NONE, gen).generate(prompt, 3, new Sampler(0.7f, 1f, 1), List.of(),
                        t -> true);
                assertEquals(6, greedyCalls.get());
            }
        }
    }

    /**
     * HostOps whose LM head products (out = vocab) of more than {@code row} rows get entries {@code at} of row
     * {@code row} set to {@code value} (a decode step's rows: a prefill's head runs on its last row only).
     */
    private static DeviceOps settingLogits(HostOps host, int vocab, int row, float value, int... at) {
        return intercepting(host, (method, args) -> {
            if (method.equals("linear") && (int) args[1] == vocab && (int) args[0] > row) {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment v = a.allocate(4);
                    v.set(ValueLayout.JAVA_FLOAT, 0, value);
                    for (int i : at) {
                        host.upload(v, (DeviceBuffer) args[7], (long) args[8] + 4L * ((long) row * (int) args[9] + i));
                    }
                }
            }
        });
    }

    /** HostOps with {@code after} called after each operation (its name and arguments). */
    private static DeviceOps intercepting(HostOps host, java.util.function.BiConsumer<String, Object[]> after) {
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    Object r;
                    try {
                        r = method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    after.accept(method.getName(), args);
                    return r;
                });
    }

    /** Two entries of a row set to the same largest logit: the lower index, on the device as on the host. */
    @Test
    void aTieInTheLogitsGoesToTheLowerIndex() {
        try (Model model = open("qwen3_moe"); HostOps host = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(
                     settingLogits(host, model.spec().vocabSize(), 1, 1e4f, 200, 37), BOUND)) {
            int[][] stepped = GreedyComparison.compare(gen, model,
                    PassComparison.randomSequences(model.spec().vocabSize(), 5, 4), 2);
            assertEquals(37, stepped[1][1], "the tie's lower index");
            assertEquals(37, stepped[2][1]);
        }
    }

    /** A NaN (or infinity) in a row of logits: the greedy step raises what the logits path raises, for that row. */
    @Test
    void aNonFiniteLogitIsTheLogitsPathsOneLine() {
        try (Model model = open("qwen3_moe"); HostOps host = new HostOps(BOUND)) {
            int vocab = model.spec().vocabSize();
            for (float bad : new float[]{Float.NaN, Float.NEGATIVE_INFINITY}) {
                try (GpuGeneration gen = new GpuGeneration(settingLogits(host, vocab, 1, bad, 90), BOUND);
                     GpuDecoder logits = gen.openBatch(model, ExpertMask.NONE, 3, 16);
                     GpuDecoder greedy = gen.openBatch(model, ExpertMask.NONE, 3, 16)) {
                    List<int[]> prompts = PassComparison.randomSequences(vocab, 5, 3, 4);
                    for (int s = 0; s < 3; s++) {
                        logits.prefill(s, prompts.get(s));   // one row: row 1 is never set
                        greedy.prefillGreedy(s, prompts.get(s));
                    }
                    int[] tokens = {1, 2, 3};
                    MoepruneException want = assertThrows(MoepruneException.class, () -> logits.decodeAll(tokens));
                    MoepruneException got = assertThrows(MoepruneException.class, () -> greedy.decodeAllGreedy(tokens));
                    assertEquals(want.getMessage(), got.getMessage());
                    assertTrue(got.getMessage().contains((Float.isNaN(bad) ? "NaN" : "an infinite value")
                            + " appeared in the final norm or LM head at token position 3"), got.getMessage());
                    assertEquals(want.exitCode(), got.exitCode());
                }
            }
        }
    }
}
