package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code -Dmoeprune.decodeRouting=device} on HostOps ({@link DecodeRouting}, {@link DecodeRoutingTables},
 * {@link DeviceOps#groupedLinearRouted}): decode steps of one sequence and of a batch give the same bits as with the
 * host's counts, with and without a mask, on the fixtures and the shared test bed's two models; a decode step's layers
 * make no host transfer at all (the host's counts download expertStart in every MoE block); the switch's spellings.
 */
class DecodeRoutingTest {
    private static final long BOUND = 1L << 30;
    /** Calls that move bytes between host and device or wait for the device. */
    private static final Set<String> TRANSFERS = Set.of("upload", "download", "downloadQueued", "synchronize",
            "hostWaits", "uploadOnCopyStream");
    /** Calls that queue no work (memory bookkeeping, fences, marks). */
    private static final Set<String> BOOKKEEPING = Set.of("alloc", "free", "zero", "allocatedBytes", "peakBytes",
            "computeFence", "copyFence", "computeWaits", "copyWaits", "timingMark", "pinnedHost", "releasePinned");

    /** Even experts kept in every layer. */
    private static ExpertMask evenExperts(Model model) {
        int experts = model.spec().moe().numExperts();
        Map<Integer, int[]> kept = new HashMap<>();
        for (int l = 0; l < model.spec().numLayers(); l++) {
            kept.put(l, IntStream.range(0, experts).filter(e -> e % 2 == 0).toArray());
        }
        return ExpertMask.of(kept, experts);
    }

    /**
     * Every step's logits of {@code sequences} prompts prefilled then decoded {@code steps} greedy tokens at once (one
     * batched decoder), the experts' counts taken as {@code routing} says.
     */
    private static List<float[]> decode(Model model, ExpertMask mask, DecodeRouting routing, int sequences,
                                        int steps) {
        List<int[]> prompts = PassComparison.randomSequences(model.spec().vocabSize(),
                IntStream.range(0, sequences).map(s -> 5 + s % 3).toArray());
        List<float[]> out = new ArrayList<>();
        try (HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND).decodeRouting(routing);
             GpuDecoder decoder = gen.openBatch(model, mask, sequences, 16)) {
            if (routing == DecodeRouting.DEVICE) {
                // gpt-oss's experts add biases: its blocks keep the host's counts; every other MoE block takes them.
                long expected = LayerPlan.of(model).stream().filter(p -> p.feedForward() instanceof LayerPlan.Moe m
                        && !m.expertBiases()).count();
                assertEquals(expected, decoder.deviceCountedLayers(), "blocks with the device's counts");
                assertTrue(expected > 0 || model.spec().family() == io.moeprune.model.Family.GPT_OSS,
                        "no routed block");
            }
            int[] next = new int[sequences];
            for (int s = 0; s < sequences; s++) {
                float[] logits = decoder.prefill(s, prompts.get(s));
                next[s] = Sampler.argmax(logits, 0, logits.length);
            }
            for (int t = 0; t < steps; t++) {
                float[] logits = decoder.decodeAll(next);
                out.add(logits);
                int vocab = logits.length / sequences;
                for (int s = 0; s < sequences; s++) next[s] = Sampler.argmax(logits, s * vocab, vocab);
            }
        }
        return out;
    }

    private static void assertSameBits(Model model, String name, int sequences, boolean masked) {
        ExpertMask mask = masked ? evenExperts(model) : ExpertMask.NONE;
        List<float[]> host = decode(model, mask, DecodeRouting.HOST, sequences, 3);
        List<float[]> device = decode(model, mask, DecodeRouting.DEVICE, sequences, 3);
        assertEquals(host.size(), device.size());
        for (int i = 0; i < host.size(); i++) {
            assertArrayEquals(host.get(i), device.get(i), name + (masked ? " masked" : "") + ", " + sequences
                    + " sequences, step " + i);
        }
    }

    /** gpt-oss keeps the host's counts (its experts' biases), the others run the routed products. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "mixtral", "deepseek_v3", "gpt_oss"})
    void theDeviceCountsDecodeTheSameBitsOnTheFixtures(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture))) {
            for (int sequences : new int[]{1, 3}) {
                assertSameBits(model, fixture, sequences, false);
                assertSameBits(model, fixture, sequences, true);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"moe-tiny-7d", "moe-tiny-7d-ds3"})
    void theDeviceCountsDecodeTheSameBitsOnTheSharedModels(String name) {
        Path dir = GpuLayerMajorPassTest.SHARED.resolve(name);
        Assumptions.assumeTrue(Files.isDirectory(dir), "shared test bed absent: " + dir);
        try (Model model = Models.open(dir)) {
            for (int sequences : new int[]{1, 4}) {
                assertSameBits(model, name, sequences, false);
                assertSameBits(model, name, sequences, true);
            }
        }
    }

    /** HostOps recording the name of every call, in order, while {@code recording[0]}. */
    private static DeviceOps recording(HostOps host, List<String> calls, boolean[] recording) {
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    if (recording[0]) calls.add(method.getName());
                    try {
                        return method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /**
     * The calls of one batched decode step of a masked qwen3_moe fixture: from its first queued operation to the
     * finite flags' download after the last layer, no transfer with the device's counts; with the host's, one
     * download a MoE block and the kept flags' upload.
     */
    @Test
    void aDecodeStepsLayersMakeNoTransfer() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"))) {
            int moeLayers = 0;
            for (LayerPlan p : LayerPlan.of(model)) if (p.feedForward() instanceof LayerPlan.Moe) moeLayers++;
            for (DecodeRouting routing : DecodeRouting.values()) {
                List<String> calls = new ArrayList<>();
                boolean[] on = {false};
                try (HostOps host = new HostOps(BOUND);
                     GpuGeneration gen = new GpuGeneration(recording(host, calls, on), BOUND).decodeRouting(routing);
                     GpuDecoder decoder = gen.openBatch(model, evenExperts(model), 2, 16)) {
                    decoder.prefill(0, new int[]{1, 2, 3});
                    decoder.prefill(1, new int[]{4, 5});
                    on[0] = true;
                    decoder.decodeAll(new int[]{6, 7});
                }
                int first = -1;
                for (int i = 0; i < calls.size() && first < 0; i++) {
                    if (!TRANSFERS.contains(calls.get(i)) && !BOOKKEEPING.contains(calls.get(i))) first = i;
                }
                // The step's last two downloads: the finite flags after the last layer, then the logits.
                int[] downloads = IntStream.range(0, calls.size()).filter(i -> calls.get(i).equals("download"))
                        .toArray();
                int flagsDownload = downloads[downloads.length - 2];
                List<String> layers = calls.subList(first, flagsDownload);
                long transfers = layers.stream().filter(TRANSFERS::contains).count();
                long routed = layers.stream().filter("groupedLinearRouted"::equals).count();
                long hostCounted = layers.stream().filter("groupedLinear"::equals).count();
                System.out.println("decode step, " + routing + " counts: " + transfers + " transfers in the layers, "
                        + routed + " routed and " + hostCounted + " host-counted products; the step's transfers "
                        + calls.stream().filter(TRANSFERS::contains).toList());
                if (routing == DecodeRouting.DEVICE) {
                    assertEquals(0, transfers, "transfers in the layers: " + layers);
                    assertEquals(2L * moeLayers, routed);
                    assertEquals(0, hostCounted);
                    // before the layers: the rows and the positions; after: the finite flags and the logits
                    assertEquals(List.of("upload", "upload", "download", "download"),
                            calls.stream().filter(TRANSFERS::contains).toList());
                } else {
                    // each MoE block: the kept flags uploaded, expertStart downloaded
                    assertEquals(2L * moeLayers, transfers, "transfers in the layers: " + layers);
                    assertEquals(0, routed);
                    assertEquals(2L * moeLayers, hostCounted);
                }
                List<String> after = calls.subList(flagsDownload, calls.size());
                assertTrue(!after.contains("route") && !after.contains("groupByExpert"),
                        "the first download comes after the last layer: " + after);
            }
        }
    }

    @Test
    void theSwitchsSpellingsAndABadValue() {
        String before = System.getProperty(DecodeRouting.PROPERTY);
        try {
            System.clearProperty(DecodeRouting.PROPERTY);
            assertEquals(DecodeRouting.DEVICE, DecodeRouting.fromProperties());
            System.setProperty(DecodeRouting.PROPERTY, "host");
            assertEquals(DecodeRouting.HOST, DecodeRouting.fromProperties());
            System.setProperty(DecodeRouting.PROPERTY, "gpu");
            MoepruneException e = assertThrows(MoepruneException.class, DecodeRouting::fromProperties);
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
            assertEquals("-Dmoeprune.decodeRouting=gpu: not host or device", e.getMessage());
        } finally {
            if (before == null) System.clearProperty(DecodeRouting.PROPERTY);
            else System.setProperty(DecodeRouting.PROPERTY, before);
        }
    }
}
