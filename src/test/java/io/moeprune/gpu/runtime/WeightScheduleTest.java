package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The weight stream's schedule, recorded by a {@link DeviceOps} wrapper around {@link HostOps}: each layer copied
 * once, layer L+1's copy queued before layer L's compute; and the memory plan: a small {@code --gpu-memory} that
 * forces chunks and host-resident residual streams gives the same floats, a too-small one the one-line error.
 */
class WeightScheduleTest {
    private static final long LARGE = 1L << 30;

    /** HostOps with every call's name (and a copy's bytes) recorded in order. */
    record Recorded(DeviceOps ops, List<String> calls, List<Long> copyBytes) {
        static Recorded of(HostOps host) {
            return of(host, new ArrayList<>());
        }

        /** ... recorded into {@code calls} (a synchronized list where other threads call the ops too). */
        static Recorded of(HostOps host, List<String> calls) {
            List<Long> bytes = java.util.Collections.synchronizedList(new ArrayList<>());
            DeviceOps ops = (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(),
                    new Class<?>[]{DeviceOps.class}, (proxy, method, args) -> {
                        String name = method.getName();
                        if (name.equals("alloc")) name = "alloc:" + args[1];
                        if (name.equals("uploadOnCopyStream")) bytes.add(((MemorySegment) args[0]).byteSize());
                        calls.add(name);
                        try {
                            return method.invoke(host, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            return new Recorded(ops, calls, bytes);
        }
    }

    /**
     * A bound with room for one chunk of 17 tokens of {@code model} (the longest of {@link #sequences}), its residuals
     * on the host: the pass runs in chunks.
     */
    static long chunkingBound(Model model) {
        List<LayerPlan> plans = LayerPlan.of(model);
        ChunkBuffers.Widths w = ChunkBuffers.Widths.of(model.spec(), plans);
        long slot = WeightStream.slotBytes(plans);
        return 2 * slot + MemoryPlan.ROUNDING * (ChunkBuffers.BUFFERS + 2)
                + 17 * (w.bytesPerToken() + 4L * model.spec().hiddenSize())
                + productsBytes(model);
    }

    /** What a run holds before it plans: the experts' products' pointer arrays (as allocated: whole 256 bytes). */
    static long productsBytes(Model model) {
        long bytes = DeviceOps.groupedProductsBytes(model.spec().moe().numExperts());
        return (bytes + MemoryPlan.ROUNDING - 1) / MemoryPlan.ROUNDING * MemoryPlan.ROUNDING;
    }

    private static List<int[]> sequences(Model model) {
        return PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
    }

    @Test
    void eachLayerIsCopiedOnceAndTheNextCopyIsQueuedBeforeTheLayerComputes() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE)) {
            Recorded r = Recorded.of(host);
            new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, r.ops(), LARGE)
                    .run(sequences(model), null, (s, l) -> { }, LayerMajorListener.NONE);
            List<String> events = new ArrayList<>();
            for (String c : r.calls()) {
                if (c.startsWith("alloc:the LM head")) break;
                String e = switch (c) {
                    case "uploadOnCopyStream" -> "copy";
                    case "computeWaits" -> "wait";
                    case "rmsNorm", "linear", "attention", "groupedLinear" -> "compute";
                    default -> null;
                };
                if (e != null && !(e.equals("compute") && events.getLast().equals("compute"))) events.add(e);
            }
            int layers = model.layers().size();
            List<String> expected = new ArrayList<>(List.of("copy"));
            for (int l = 0; l < layers; l++) {
                if (l + 1 < layers) expected.add("copy");
                expected.addAll(List.of("wait", "compute"));
            }
            assertEquals(expected, events);
            List<LayerPlan> plans = LayerPlan.of(model);
            for (int l = 0; l < layers; l++) {
                assertEquals(plans.get(l).layout().bytes(), r.copyBytes().get(l), "layer " + l + " copied whole, once");
            }
            assertEquals(0, host.allocatedBytes(), "everything freed");
        }
    }

    @Test
    void aSmallBoundRunsInChunksWithTheResidualsOnTheHostAndGivesTheSameFloats() {
        // The same logits and the same traces, split per sequence out of chunks cut elsewhere.
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE)) {
            List<int[]> seqs = sequences(model);
            List<LayerPlan> plans = LayerPlan.of(model);
            ChunkBuffers.Widths w = ChunkBuffers.Widths.of(model.spec(), plans);
            long slot = WeightStream.slotBytes(plans);
            int hidden = model.spec().hiddenSize();
            // Room for a chunk of the longest sequence (17 tokens; all of them have 32), residuals on the host.
            long small = chunkingBound(model);
            long held = productsBytes(model);
            MemoryPlan plan = MemoryPlan.of(small - held, slot, w.bytesPerToken(), ChunkBuffers.BUFFERS, 32, 17,
                    hidden, small, held);
            assertFalse(plan.residentResiduals());
            assertEquals(17, plan.chunkTokens());
            assertEquals(3, plan.chunks(new int[]{9, 1, 17, 5}).size());

            Map<String, List<Object>> largeTraces = new HashMap<>(), chunkedTraces = new HashMap<>();
            float[][] large = logits(model, seqs, host, LARGE, largeTraces);
            float[][] chunked = logits(model, seqs, host, small, chunkedTraces);
            for (int s = 0; s < seqs.size(); s++) assertArrayEquals(large[s], chunked[s], "sequence " + s);
            assertSameTraces(largeTraces, chunkedTraces);
            assertTrue(host.peakBytes() <= LARGE);
            // As GpuLayerMajorPassCudaTest compares them on CUDA (other summation orders there): here nothing moves.
            PassComparison.Result r = PassComparison.compareRuns(model, seqs, PassComparison.on(host, LARGE),
                    PassComparison.on(host, small));
            assertEquals(0.0, r.logitError(), r.toString());
            assertTrue(r.sameChoices() && r.excused() == 0 && r.tokens() > 0, r.toString());
        }
    }

    private static float[][] logits(Model model, List<int[]> seqs, DeviceOps ops, long bound) {
        return logits(model, seqs, ops, bound, null);
    }

    /** All logits, and each (sequence, layer)'s trace (residual, logits, choices, weights, norms, turns) when asked. */
    private static float[][] logits(Model model, List<int[]> seqs, DeviceOps ops, long bound,
                                    Map<String, List<Object>> traces) {
        float[][] out = new float[seqs.size()][];
        new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops, bound).run(seqs,
                traces == null ? null : s -> t -> traces.put(s + "/" + t.layer(), List.of(t.residualIn().clone(),
                        t.routerLogits().clone(), t.chosen().clone(), t.weights().clone(), t.slotNorms().clone(),
                        t.turns().clone(), t.positions().clone())),
                (s, l) -> out[s] = l, LayerMajorListener.NONE);
        return out;
    }

    @Test
    void aTooSmallBoundIsTheOneLineError() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE)) {
            long slot = WeightStream.slotBytes(LayerPlan.of(model));
            for (long bound : new long[]{slot, 2 * slot + 64 * 1024}) {
                MoepruneException e = assertThrows(MoepruneException.class, () -> logits(model, sequences(model), host, bound));
                assertTrue(e.getMessage().startsWith("--gpu-memory "), e.getMessage());
                assertTrue(e.getMessage().contains("is too small"), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
            }
            assertEquals(0, host.allocatedBytes(), "nothing held after the error");
        }
    }

    /**
     * Issue 22 item 5: every bound near the smallest the pass accepts either runs to the end or is refused before
     * anything ran, with the one-line error. The experts' products' pointer arrays were not in the plan: grown in the
     * middle of a run (after the batched path's scratch took what the bound left) they failed runs the plan had
     * accepted (TokenScoresCudaTest at 56 MB on an H100, 2026-12-07). HostOps keeps them as CudaOps does, and here
     * its products first take every byte the bound leaves, as the batched path's scratch does: without the
     * reservation before the plan this fails (the pointer arrays' 12 KB find no room).
     */
    @Test
    void aBoundThePlanAcceptsRunsToTheEnd() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"))) {
            List<int[]> seqs = sequences(model);
            long refused = WeightStream.slotBytes(LayerPlan.of(model)), accepted = LARGE;
            while (accepted - refused > MemoryPlan.ROUNDING) {   // the smallest bound the plan accepts, to 256 bytes
                long mid = (refused + accepted) / 2;
                if (outcome(model, seqs, mid) == Outcome.REFUSED) refused = mid;
                else accepted = mid;
            }
            for (long bound = accepted; bound <= accepted + 16 * 1024; bound += 1024) {
                assertEquals(Outcome.RAN, outcome(model, seqs, bound), "--gpu-memory " + bound
                        + " (the smallest the plan accepts: " + accepted + ")");
            }
        }
    }

    private enum Outcome { RAN, REFUSED, FAILED_MID_RUN }

    /**
     * A pass of {@code bound} bytes on a HostOps device of the same bound: whether it ran, and else whether it stopped
     * before computing anything (every layer starts with its input norm) or in the middle.
     */
    private static Outcome outcome(Model model, List<int[]> seqs, long bound) {
        try (HostOps host = new HostOps(bound)) {
            Recorded r = Recorded.of(host, java.util.Collections.synchronizedList(new ArrayList<>()));
            try {
                new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, greedyProducts(r.ops(), bound),
                        bound).run(seqs,
                        null, (s, l) -> { }, LayerMajorListener.NONE);
                return Outcome.RAN;
            } catch (MoepruneException e) {
                assertTrue(e.getMessage().startsWith("--gpu-memory ") && !e.getMessage().contains("\n"),
                        e.getMessage());
                return r.calls().contains("rmsNorm") ? Outcome.FAILED_MID_RUN : Outcome.REFUSED;
            }
        }
    }

    /**
     * {@code ops} whose grouped products hold a scratch of all the bound leaves while they run, as CudaOps's batched
     * path sizes its padded outputs (CudaGroupedProducts.batched): whatever they allocate beyond that finds no room.
     */
    private static DeviceOps greedyProducts(DeviceOps ops, long bound) {
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    long free = bound - ops.allocatedBytes() - MemoryPlan.ROUNDING;
                    var scratch = method.getName().equals("groupedLinear") && free > 0
                            ? ops.alloc(free, "the batched experts' padded outputs") : null;
                    try {
                        return method.invoke(ops, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        if (scratch != null) ops.free(scratch);
                    }
                });
    }

    /** Two runs' recorded traces (fields by (sequence, layer)) equal bit for bit, field by field. */
    static void assertSameTraces(Map<String, List<Object>> expected, Map<String, List<Object>> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((key, t) -> {
            List<Object> c = actual.get(key);
            for (int i = 0; i < t.size(); i++) {
                if (t.get(i) instanceof float[] f) assertArrayEquals(f, (float[]) c.get(i), key + " field " + i);
                else assertArrayEquals((int[]) t.get(i), (int[]) c.get(i), key + " field " + i);
            }
        });
    }
}
