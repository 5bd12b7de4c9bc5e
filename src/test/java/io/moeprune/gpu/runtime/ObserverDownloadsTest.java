package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The observers' downloads queued into pinned regions ({@link ObserverDownloads}), on HostOps whose queued copies land
 * only when their fence is waited on ({@link HostOps#deferQueuedCopies}: a trace read before the fence would see
 * poison): traces and calibration statistics as before over many chunks and layers, a bounded pool of regions reused,
 * and everything released after an observer's exception.
 */
class ObserverDownloadsTest {
    private static final long LARGE = 1L << 30;

    /** Twelve sequences of up to 17 tokens: several chunks under {@link WeightScheduleTest#chunkingBound}. */
    static List<int[]> sequences(Model model) {
        return PassComparison.randomSequences(model.spec().vocabSize(), 9, 17, 5, 12, 17, 3, 8, 17, 11, 2, 16, 7);
    }

    /** Every field of each (sequence, layer)'s trace, off the pass's thread when {@code offThread}. */
    static IntFunction<MoeObserver> recording(Map<String, List<Object>> traces, boolean offThread) {
        return s -> new MoeObserver() {
            @Override
            public void onMoeBlock(MoeTrace t) {
                List<Object> fields = List.of(t.residualIn(), t.routerLogits(), t.chosen(), t.weights(),
                        t.slotNorms(), t.turns(), t.positions());
                synchronized (traces) {
                    traces.put(s + "/" + t.layer(), fields);
                }
            }

            @Override
            public boolean runsOffThread() {
                return offThread;
            }
        };
    }

    private static void run(Model model, WeightScheduleTest.Recorded ops, long bound, List<int[]> seqs,
                            IntFunction<MoeObserver> observers) {
        new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, ops.ops(), bound).run(seqs,
                observers, (s, l) -> { }, LayerMajorListener.NONE);
    }

    private static long count(WeightScheduleTest.Recorded ops, String call) {
        synchronized (ops.calls()) {
            return ops.calls().stream().filter(call::equals).count();
        }
    }

    /** HostOps, every call recorded (thread-safe: the workers wait for fences). */
    private static WeightScheduleTest.Recorded recorded(HostOps host) {
        return WeightScheduleTest.Recorded.of(host, Collections.synchronizedList(new ArrayList<>()));
    }

    @ParameterizedTest(name = "observers off the thread: {0}")
    @ValueSource(booleans = {true, false})
    void chunkedTracesWithDeferredCopiesAreThoseOfOneChunkWithImmediateOnes(boolean offThread) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps plain = new HostOps(LARGE); HostOps deferred = new HostOps(LARGE).deferQueuedCopies()) {
            List<int[]> seqs = sequences(model);
            Map<String, List<Object>> whole = new HashMap<>(), chunked = new HashMap<>();
            WeightScheduleTest.Recorded deferredOps = recorded(deferred);
            run(model, recorded(plain), LARGE, seqs, recording(whole, offThread));
            run(model, deferredOps, WeightScheduleTest.chunkingBound(model), seqs, recording(chunked, offThread));
            assertEquals(seqs.size() * model.spec().moeLayers().size(), whole.size());
            WeightScheduleTest.assertSameTraces(whole, chunked);
        }
    }

    /** Calibration statistics and masks from the chunked pass with deferred copies: the CPU's, within the bounds. */
    @Test
    void calibrationOverChunksWithDeferredCopiesMatchesTheCpu() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps deferred = new HostOps(LARGE).deferQueuedCopies()) {
            PassComparison.Result r = PassComparison.compare(model, sequences(model),
                    PassComparison.on(deferred, WeightScheduleTest.chunkingBound(model)));
            PassComparison.assertBounds("qwen3_moe chunked, deferred copies", r, 3e-2);
        }
    }

    /**
     * Slow observers on the workers: a run of many chunks × every MoE layer takes at most
     * {@link ObserverDownloads#REGIONS} pinned regions more than a run without observers, and gives every one back.
     */
    @Test
    void thePinnedRegionsAreBoundedAndReused() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE).deferQueuedCopies()) {
            List<int[]> seqs = sequences(model);
            long bound = WeightScheduleTest.chunkingBound(model);
            WeightScheduleTest.Recorded without = recorded(host), with = recorded(host);
            run(model, without, bound, seqs, null);
            IntFunction<MoeObserver> slow = s -> new MoeObserver() {
                @Override
                public void onMoeBlock(MoeTrace t) {
                    try {
                        Thread.sleep(2);   // the workers trail the pass: it must wait for regions
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }

                @Override
                public boolean runsOffThread() {
                    return true;
                }
            };
            run(model, with, bound, seqs, slow);
            // A fence a chunk-layer for its downloads (the weight stream's fences are in both runs).
            long chunkLayers = count(with, "computeFence") - count(without, "computeFence");
            assertTrue(chunkLayers > 2 * ObserverDownloads.REGIONS, "enough chunk-layers: " + chunkLayers);
            long regions = count(with, "pinnedHost") - count(without, "pinnedHost");
            assertTrue(regions >= 1 && regions <= ObserverDownloads.REGIONS, "regions " + regions);
            assertEquals(count(with, "pinnedHost"), count(with, "releasePinned"), "every pinned buffer released");
        }
    }

    /** An observer's exception fails the run, from a worker or from the pass's thread, and no pinned buffer is left. */
    @ParameterizedTest(name = "observer off the thread: {0}")
    @ValueSource(booleans = {true, false})
    void anObserversExceptionFailsTheRunAndLeavesNoPinnedBuffer(boolean offThread) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE).deferQueuedCopies()) {
            List<int[]> seqs = sequences(model);
            int failingLayer = model.spec().moeLayers().getLast();
            IllegalStateException boom = new IllegalStateException("observer failed");
            IntFunction<MoeObserver> failing = s -> new MoeObserver() {
                @Override
                public void onMoeBlock(MoeTrace t) {
                    if (s == 4 && t.layer() == failingLayer) throw boom;
                }

                @Override
                public boolean runsOffThread() {
                    return offThread;
                }
            };
            WeightScheduleTest.Recorded ops = recorded(host);
            assertSame(boom, assertThrows(IllegalStateException.class,
                    () -> run(model, ops, WeightScheduleTest.chunkingBound(model), seqs, failing)));
            assertTrue(count(ops, "pinnedHost") > 0);
            assertEquals(count(ops, "pinnedHost"), count(ops, "releasePinned"), "every pinned buffer released");
            assertEquals(0, host.allocatedBytes(), "device memory freed");
        }
    }

    /**
     * One region: a second chunk-layer waits until every sequence of the first has released it, then reuses it
     * (no new pinned bytes); a trace gives the values the buffers held when the copies were queued, even when the
     * buffers are overwritten after (a later kernel), read at the fence.
     */
    @Test
    void aSecondChunkWaitsForTheRegionAndReusesIt() throws Exception {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE).deferQueuedCopies(); Arena arena = Arena.ofConfined()) {
            List<LayerPlan> plans = LayerPlan.of(model);
            LayerPlan.Moe moe = plans.stream().map(LayerPlan::feedForward).filter(f -> f instanceof LayerPlan.Moe)
                    .map(f -> (LayerPlan.Moe) f).findFirst().orElseThrow();
            int tokens = 6, hidden = model.spec().hiddenSize(), e = moe.numExperts();
            MemorySegment logits = arena.allocate(4L * tokens * e);
            for (int i = 0; i < tokens * e; i++) logits.setAtIndex(ValueLayout.JAVA_FLOAT, i, i * 0.5f);
            float[] expected = logits.toArray(ValueLayout.JAVA_FLOAT);
            try (ChunkBuffers b = new ChunkBuffers(host, ChunkBuffers.Widths.of(model.spec(), plans), tokens, false);
                 ObserverDownloads d = new ObserverDownloads(host, tokens, 1,
                         ObserverDownloadMode.DOWNLOAD_STREAM)) {
                host.upload(logits, b.routerLogits, 0);
                HostRouting routing = HostRouting.grouped(new int[tokens * moe.topK()], new float[tokens * moe.topK()],
                        e, moe.topK());
                ChunkRouting.Routed r = new ChunkRouting.Routed(routing.expertStart(), routing);
                ObserverDownloads.Chunk first = d.queue(b, b.x, r, moe, 3, tokens, hidden, false, 2);
                host.zero(b.routerLogits, 0, 4L * tokens * e);   // a later kernel overwrites them
                long pinned = d.pinnedBytes();
                CompletableFuture<ObserverDownloads.Chunk> second = CompletableFuture.supplyAsync(
                        () -> d.queue(b, b.x, r, moe, 4, tokens, hidden, false, 1));
                Thread.sleep(100);
                assertFalse(second.isDone(), "the only region is held");
                MoeTrace t = first.trace(2, 5);
                assertEquals(3, t.layer());
                assertArrayEquals(java.util.Arrays.copyOfRange(expected, 2 * e, 5 * e), t.routerLogits());
                first.release();
                Thread.sleep(50);
                assertFalse(second.isDone(), "a sequence of the chunk still holds it");
                first.release();
                second.get(5, TimeUnit.SECONDS).release();
                assertEquals(pinned, d.pinnedBytes(), "the region reused");
                assertTrue(d.waitedNanos() > 0);
            }
        }
    }
}
