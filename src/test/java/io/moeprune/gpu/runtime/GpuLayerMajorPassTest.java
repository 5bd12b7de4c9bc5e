package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU runtime's layer-major pass on {@link HostOps} (CI's device) against the CPU runtime, on every conformance
 * family it runs and both shared models: logits within 1e-2 relative, expert choices identical except near ties,
 * calibration statistics within 1 %, the masks selected from them identical. A routing decided by less than the BF16
 * activations move the router logits (a near tie) may swap an expert: that changes the token's output outright, and
 * the statistics of these few tokens (32 to 120) by whole counts. So: logits are compared up to each sequence's first
 * swap; every swap must be near a tie ({@link PassComparison.Result}); statistics and masks are held to the bounds
 * where no routing swapped, else statistics within 20 % (the GPU machine's test runs enough tokens to hold the
 * masks to identity). See {@link PassComparison#assertBounds} for the random-weight fixtures' looser bound.
 */
class GpuLayerMajorPassTest {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");
    static final Path SHARED = Path.of("../shared/models");
    static final Path DATA = Path.of("../shared/data/domains");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"moe-tiny-7d", "moe-tiny-7d-ds3"})
    void matchesTheCpuOnTheSharedModels(String name) throws IOException {
        Path dir = SHARED.resolve(name);
        Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isDirectory(DATA), "shared test bed absent: " + dir);
        try (Model model = Models.open(dir); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.documentSequences(dir, DATA.resolve("medical.dev.jsonl"), 3, 40);
            PassComparison.Result r = PassComparison.compare(model, seqs, PassComparison.on(ops, 1L << 30));
            System.out.println(name + ": " + r);
            PassComparison.assertBounds(name, r, 1e-2);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void matchesTheCpuOnConformanceFamilies(String fixture) {
        try (Model model = Models.open(FIXTURES.resolve(fixture)); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
            PassComparison.Result r = PassComparison.compare(model, seqs, PassComparison.on(ops, 1L << 30));
            System.out.println(fixture + ": " + r);
            PassComparison.assertBounds(fixture, r, 3e-2);
        }
    }

    /** OLMoE's clip_qkv (the fixture's config with it set: most q, k, v values clamp) runs on the device's clamp. */
    @Test
    void olmoeWithClipQkvMatchesTheCpu(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Path fixture = FIXTURES.resolve("olmoe");
        try (var files = Files.list(fixture)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("config.json")) Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
            }
        }
        String config = Files.readString(fixture.resolve("config.json"));
        assertTrue(config.contains("\"clip_qkv\": null"), "the fixture's clip_qkv");
        Files.writeString(dir.resolve("config.json"), config.replace("\"clip_qkv\": null", "\"clip_qkv\": 0.5"));
        try (Model model = Models.open(dir); HostOps ops = new HostOps(1L << 30)) {
            assertEquals(0.5f, model.spec().attention().clipQkv());
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 17);
            PassComparison.Result r = PassComparison.compare(model, seqs, PassComparison.on(ops, 1L << 30));
            System.out.println("olmoe clip_qkv 0.5: " + r);
            PassComparison.assertBounds("olmoe clip_qkv", r, 3e-2);
        }
    }

    /**
     * Observers on the GPU pass: the residual comes only to a chunk one of whose observers reads it (then equal to the
     * CPU's within the BF16 bound); an observer that runs off the thread sees its sequence's layers in order, every
     * one of them by the time run returns, and its exception comes out of run.
     */
    @Test
    void observersGetTheResidualOnlyWhenReadAndMayRunOnWorkers() {
        try (Model model = Models.open(FIXTURES.resolve("qwen3_moe")); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 17, 5);
            List<Integer> moeLayers = model.spec().moeLayers();
            Map<Integer, List<Integer>> layersSeen = new HashMap<>();
            Set<Thread> threads = new HashSet<>();
            Map<String, float[]> residuals = new HashMap<>();
            IntFunction<MoeObserver> offThread = s -> new MoeObserver() {
                @Override
                public void onMoeBlock(MoeTrace t) {
                    synchronized (layersSeen) {
                        layersSeen.computeIfAbsent(s, x -> new java.util.ArrayList<>()).add(t.layer());
                        threads.add(Thread.currentThread());
                    }
                    assertNull(t.residualIn(), "no observer of the chunk reads the residual");
                }

                @Override
                public boolean readsResidual() {
                    return false;
                }

                @Override
                public boolean runsOffThread() {
                    return true;
                }
            };
            var gpu = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, ops, 1L << 30);
            gpu.run(seqs, offThread, (s, l) -> { }, LayerMajorListener.NONE);
            for (int s = 0; s < seqs.size(); s++) assertEquals(moeLayers, layersSeen.get(s), "sequence " + s);
            assertFalse(threads.contains(Thread.currentThread()), "observed on the workers");

            gpu.run(seqs, s -> t -> residuals.put(s + "/" + t.layer(), t.residualIn()), (s, l) -> { },
                    LayerMajorListener.NONE);
            Map<String, float[]> cpu = new HashMap<>();
            new LayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE).run(seqs,
                    s -> t -> cpu.put(s + "/" + t.layer(), t.residualIn().clone()), (s, l) -> { }, LayerMajorListener.NONE);
            assertEquals(cpu.keySet(), residuals.keySet());
            for (String key : cpu.keySet()) {
                assertTrue(PassComparison.relativeError(residuals.get(key), cpu.get(key)) < 3e-2, key);
            }

            IllegalStateException boom = new IllegalStateException("observer failed");
            IntFunction<MoeObserver> failing = s -> new MoeObserver() {
                @Override
                public void onMoeBlock(MoeTrace t) {
                    if (s == 1 && t.layer() == moeLayers.get(1)) throw boom;
                }

                @Override
                public boolean runsOffThread() {
                    return true;
                }
            };
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> gpu.run(seqs, failing, (s, l) -> { }, LayerMajorListener.NONE)));
        }
    }
}
