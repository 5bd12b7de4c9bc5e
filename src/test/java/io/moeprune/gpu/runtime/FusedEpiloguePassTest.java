package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pass with a MoE block's epilogue as one operation ({@code -Dmoeprune.fusedEpilogue=true}, here
 * {@link GpuLayerMajorPass#fusedEpilogue}) on HostOps: bit-identical to the pass with it off on every conformance
 * fixture (shared experts and Qwen2-MoE's gate, GraniteMoE's residual multiplier, gpt-oss's F32 rows among them) and
 * on the shared Qwen3-MoE model, with F32 and BF16 expert rows: logits of every row, and of every calibration trace
 * the slot norms, the turns and the residual entering the block (queued before the epilogue adds into it); the same
 * without observers (the kernel's unwatched form) and under a mask; a non-finite layer output the same one-line error.
 */
class FusedEpiloguePassTest {
    private static final long BOUND = 1L << 30;

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void fusedEqualsUnfusedOnConformanceFixtures(String fixture) {
        PassComparison.onFixture(fixture, (model, ops, seqs) -> {
            for (ExpertOutputs rows : ExpertOutputs.values()) {
                assertEquals(traceHash(model, ops, seqs, rows, ExpertMask.NONE, false),
                        traceHash(model, ops, seqs, rows, ExpertMask.NONE, true), fixture + " " + rows);
                assertArrayEquals(unwatchedLogits(model, ops, seqs, rows, false),
                        unwatchedLogits(model, ops, seqs, rows, true), fixture + " " + rows + " unwatched");
            }
        });
    }

    @Test
    void fusedEqualsUnfusedOnTheSharedQwen3Model() throws IOException {
        PassComparison.onSharedQwen3Model((model, ops, seqs) -> {
            for (ExpertOutputs rows : ExpertOutputs.values()) {
                assertEquals(traceHash(model, ops, seqs, rows, ExpertMask.NONE, false),
                        traceHash(model, ops, seqs, rows, ExpertMask.NONE, true), rows.toString());
            }
            int experts = model.spec().moe().numExperts();
            Map<Integer, int[]> kept = new HashMap<>();
            for (int l : model.spec().moeLayers()) {
                kept.put(l, IntStream.range(0, experts).filter(e -> e % 3 != 1).toArray());
            }
            ExpertMask mask = ExpertMask.of(kept, experts);
            assertEquals(traceHash(model, ops, seqs, ExpertOutputs.F32, mask, false),
                    traceHash(model, ops, seqs, ExpertOutputs.F32, mask, true), "masked");
        });
    }

    /** A NaN in one expert row of a later MoE layer: the CPU's one line, the same layer and position either way. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void aNonFiniteLayerOutputIsTheSameOneLineFusedOrNot(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps host = new HostOps(BOUND)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 6, 9);
            String unfused = failure(model, poisoningExpertRows(host, "combineSlots", 1), seqs, false);
            String fused = failure(model, poisoningExpertRows(host, "moeEpilogue", 1), seqs, true);
            assertEquals(unfused, fused);
            int layer = model.spec().moeLayers().get(1);
            assertTrue(fused.contains("NaN appeared in layer " + layer + " (of "), fused);
            assertEquals(1, fused.lines().count());
        }
    }

    private static String failure(Model model, DeviceOps ops, List<int[]> seqs, boolean fused) {
        GpuLayerMajorPass pass = new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND)
                .fusedEpilogue(fused);
        return assertThrows(MoepruneException.class,
                () -> pass.run(seqs, null, (s, l) -> { }, LayerMajorListener.NONE)).getMessage();
    }

    /**
     * HostOps whose MoE block number {@code at} (0 the first) finds a NaN in element 5 of its first expert row (a
     * row some token's slot reads) when it calls {@code method}: the unfused combine or the fused epilogue.
     */
    private static DeviceOps poisoningExpertRows(HostOps host, String method, int at) {
        AtomicInteger calls = new AtomicInteger();
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, m, args) -> {
                    if (m.getName().equals(method) && calls.getAndIncrement() == at) {
                        DeviceBuffer rows = (DeviceBuffer) args[0];
                        boolean bf16 = args[m.getName().equals("moeEpilogue") ? 6 : 7] == ExpertOutputs.BF16;
                        try (Arena a = Arena.ofConfined()) {
                            MemorySegment nan = a.allocate(4);
                            nan.set(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                            host.upload(bf16 ? nan.asSlice(2, 2) : nan, rows, bf16 ? 10 : 20);
                        }
                    }
                    try {
                        return m.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** {@link PassComparison#traceHash} (every sequence watched) with the fused epilogue on or off. */
    private static String traceHash(Model model, HostOps ops, List<int[]> seqs, ExpertOutputs rows, ExpertMask mask,
                                    boolean fused) {
        return PassComparison.traceHash(new GpuLayerMajorPass(model, mask, LayerMajorPass.Logits.ALL, ops, BOUND)
                .expertOutputs(rows).fusedEpilogue(fused), seqs);
    }

    /** Every sequence's logits (all rows, concatenated) of a pass without observers. */
    private static float[] unwatchedLogits(Model model, HostOps ops, List<int[]> seqs, ExpertOutputs rows,
                                           boolean fused) {
        float[][] logits = new float[seqs.size()][];
        new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops, BOUND).expertOutputs(rows)
                .fusedEpilogue(fused).run(seqs, null, (s, l) -> logits[s] = l, LayerMajorListener.NONE);
        int length = 0;
        for (float[] l : logits) length += l == null ? 0 : l.length;
        float[] all = new float[length];
        int at = 0;
        for (float[] l : logits) {
            if (l == null) continue;
            System.arraycopy(l, 0, all, at, l.length);
            at += l.length;
        }
        return all;
    }
}
