package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
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

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

import static io.moeprune.gpu.runtime.ObserverDownloadsTest.sequences;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The observers' copies on a download stream of their own ({@link ObserverDownloadMode}, {@link ObserverDownloads}) on
 * HostOps: the same traces and calibration statistics, bit for bit, as on the compute stream and waited, over many
 * chunks and layers with copies that land only at their fence; and, recorded call by call, the order that makes them
 * race-free on a GPU: each copy queued on the download stream behind a compute fence taken after the last operation
 * on its buffer, and the compute stream waiting for the copies' fence before it next touches any copied buffer.
 */
class ObserverDownloadStreamTest {
    private static final long LARGE = 1L << 30;

    private static GpuLayerMajorPass pass(Model model, DeviceOps ops, long bound, ObserverDownloadMode mode,
                                          boolean fusedEpilogue) {
        return new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE, ops, bound)
                .observerDownloads(mode).fusedEpilogue(fusedEpilogue);
    }

    private static Map<String, List<Object>> traces(Model model, DeviceOps ops, long bound, ObserverDownloadMode mode,
                                                    boolean fusedEpilogue, boolean offThread) {
        Map<String, List<Object>> traces = new HashMap<>();
        pass(model, ops, bound, mode, fusedEpilogue).run(sequences(model),
                ObserverDownloadsTest.recording(traces, offThread), (s, l) -> { }, LayerMajorListener.NONE);
        return traces;
    }

    /**
     * qwen3_moe (routing on the device) and deepseek_v3 (a shared expert), the MoE epilogue fused or not: traces and
     * every calibration statistic bit for bit in the three modes.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
    void theModesGiveTheSameTracesAndStatistics(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps host = new HostOps(LARGE).deferQueuedCopies()) {
            long bound = WeightScheduleTest.chunkingBound(model);
            for (boolean fused : new boolean[]{true, false}) {
                Map<String, List<Object>> compute = traces(model, host, bound, ObserverDownloadMode.COMPUTE_STREAM,
                        fused, true);
                assertEquals(sequences(model).size() * model.spec().moeLayers().size(), compute.size());
                for (ObserverDownloadMode mode : List.of(ObserverDownloadMode.DOWNLOAD_STREAM,
                        ObserverDownloadMode.WAITED)) {
                    WeightScheduleTest.assertSameTraces(compute, traces(model, host, bound, mode, fused, true));
                }
                WeightScheduleTest.assertSameTraces(compute,
                        traces(model, host, bound, ObserverDownloadMode.DOWNLOAD_STREAM, fused, false));
            }
            ExpertStats compute = calibrate(model, host, bound, ObserverDownloadMode.COMPUTE_STREAM);
            ExpertStats stream = calibrate(model, host, bound, ObserverDownloadMode.DOWNLOAD_STREAM);
            for (Statistic stat : Statistic.values()) {
                double[][] a = compute.aggregate(stat), b = stream.aggregate(stat);
                for (int l = 0; l < a.length; l++) assertArrayEquals(a[l], b[l], fixture + " " + stat + " layer " + l);
            }
        }
    }

    private static ExpertStats calibrate(Model model, HostOps host, long bound, ObserverDownloadMode mode) {
        return PassComparison.calibrate(model, sequences(model), (m, mask, logits) ->
                new GpuLayerMajorPass(m, mask, logits, host, bound).observerDownloads(mode));
    }

    /** One call: its name, arguments (empty for none) and result (null for none). */
    private record Call(String name, Object[] args, Object result) {
        /** Whether an argument is a device buffer overlapping {@code b}. */
        boolean names(DeviceBuffer b) {
            for (Object a : args) {
                if (a instanceof DeviceBuffer d && d.address() < b.address() + b.bytes()
                        && b.address() < d.address() + d.bytes()) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Calls that queue nothing on the compute stream (bookkeeping, fences, marks, the other streams, the host's). */
    private static final Set<String> NOT_COMPUTE = Set.of("alloc", "free", "allocatedBytes", "peakBytes", "pinnedHost",
            "releasePinned", "computeFence", "copyFence", "downloadFence", "computeWaits", "copyWaits",
            "downloadWaits", "hostWaits", "timingMark", "downloadTimingMark", "elapsedSeconds", "releaseMarks",
            "uploadOnCopyStream", "downloadOnDownloadStream", "reserveGroupedProducts", "attentionScratchBytes",
            "synchronize", "close");

    /** HostOps recording every call of the pass's thread, with its arguments and result. */
    private static DeviceOps recording(HostOps host, List<Call> calls, Thread passThread) {
        return (DeviceOps) Proxy.newProxyInstance(DeviceOps.class.getClassLoader(), new Class<?>[]{DeviceOps.class},
                (proxy, method, args) -> {
                    Object result;
                    try {
                        result = method.invoke(host, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (Thread.currentThread() == passThread) {
                        calls.add(new Call(method.getName(), args == null ? new Object[0] : args, result));
                    }
                    return result;
                });
    }

    /** A copy on the download stream: its buffer, the fence its stream waited for, its own fence once taken. */
    private static final class Copy {
        final DeviceBuffer buffer;
        Long fence;

        Copy(DeviceBuffer buffer) {
            this.buffer = buffer;
        }
    }

    /**
     * Over many chunks and layers, fused epilogue or not, the residual read or not: every copy on the download stream
     * comes after a downloadWaits of a compute fence taken after the last compute operation that named its buffer,
     * and every compute operation that names a copied buffer after the copy comes after a computeWaits of the copy's
     * fence (or a synchronize); the residual entering the block, copied only when read, goes on the compute stream
     * (one more compute-stream download a watched chunk-layer than without it: the host residual rows' own
     * downloads are there either way).
     */
    @Test
    void theCopiesWaitForTheirWritersAndTheNextWriterWaitsForThem() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps host = new HostOps(LARGE).deferQueuedCopies()) {
            long bound = WeightScheduleTest.chunkingBound(model);
            for (boolean fused : new boolean[]{true, false}) {
                int[] computeDownloads = new int[2], epilogues = new int[2];
                for (boolean residual : new boolean[]{true, false}) {
                    List<Call> calls = Collections.synchronizedList(new ArrayList<>());
                    IntFunction<MoeObserver> observers = s -> new MoeObserver() {
                        @Override
                        public void onMoeBlock(MoeTrace t) {
                        }

                        @Override
                        public boolean readsResidual() {
                            return residual;
                        }

                        @Override
                        public boolean runsOffThread() {
                            return true;
                        }
                    };
                    pass(model, recording(host, calls, Thread.currentThread()), bound,
                            ObserverDownloadMode.DOWNLOAD_STREAM, fused).run(sequences(model), observers, (s, l) -> { },
                            LayerMajorListener.NONE);
                    int[] counted = checkOrder(List.copyOf(calls), "fused " + fused + ", residual " + residual);
                    computeDownloads[residual ? 1 : 0] = counted[0];
                    epilogues[residual ? 1 : 0] = counted[1];
                }
                assertEquals(epilogues[0], epilogues[1]);
                assertEquals(epilogues[1], computeDownloads[1] - computeDownloads[0],
                        "fused " + fused + ": the residual's copies on the compute stream");
            }
        }
    }

    /** Checks the order of {@code calls}; returns the compute stream's queued downloads and the watched blocks. */
    private static int[] checkOrder(List<Call> calls, String what) {
        Map<Long, Integer> computeFenceAt = new HashMap<>();   // fence → index of its computeFence
        Long downloadWaitedFor = null;
        List<Copy> pending = new ArrayList<>();   // copies whose buffers the compute stream has not waited for
        List<Copy> unfenced = new ArrayList<>();
        int copies = 0, waits = 0, computeDownloads = 0, epilogues = 0;
        for (int i = 0; i < calls.size(); i++) {
            Call c = calls.get(i);
            switch (c.name()) {
                case "computeFence" -> computeFenceAt.put((Long) c.result(), i);
                case "downloadWaits" -> downloadWaitedFor = (Long) c.args()[0];
                case "downloadOnDownloadStream" -> {
                    DeviceBuffer b = (DeviceBuffer) c.args()[0];
                    assertTrue(downloadWaitedFor != null && computeFenceAt.containsKey(downloadWaitedFor),
                            what + ": copy " + i + " behind no compute fence");
                    int fencedAt = computeFenceAt.get(downloadWaitedFor);
                    for (int j = fencedAt + 1; j < i; j++) {
                        Call between = calls.get(j);
                        assertTrue(NOT_COMPUTE.contains(between.name()) || !between.names(b),
                                what + ": " + between.name() + " (" + j + ") touches copy " + i + "'s buffer after "
                                        + "the fence the copy waits for");
                    }
                    Copy copy = new Copy(b);
                    unfenced.add(copy);
                    pending.add(copy);
                    copies++;
                }
                case "downloadFence" -> {
                    for (Copy u : unfenced) u.fence = (Long) c.result();
                    unfenced.clear();
                }
                case "computeWaits" -> {
                    long fence = (Long) c.args()[0];
                    waits++;
                    pending.removeIf(p -> p.fence != null && p.fence <= fence);   // HostOps numbers its fences
                }
                case "synchronize" -> pending.clear();
                default -> {
                    if (c.name().equals("moeEpilogue") || c.name().equals("turns")) epilogues++;
                    if (c.name().equals("downloadQueued")) computeDownloads++;
                    if (NOT_COMPUTE.contains(c.name())) continue;
                    for (Copy p : pending) {
                        assertTrue(!c.names(p.buffer), what + ": " + c.name() + " (" + i + ") touches a copied "
                                + "buffer before the compute stream waited for the copy's fence " + p.fence);
                    }
                }
            }
        }
        assertTrue(unfenced.isEmpty(), what + ": copies after the last download fence");
        System.out.printf("%s: %d copies on the download stream, %d compute waits, %d queued downloads on the "
                + "compute stream, %d watched epilogues%n", what, copies, waits, computeDownloads, epilogues);
        // Five buffers a watched chunk-layer (logits, ids, weights, norms, turns).
        assertTrue(epilogues > 4, what + ": several chunk-layers watched");
        assertEquals(5L * epilogues, copies, what);
        assertTrue(waits >= epilogues - 1, what + ": the next router waits for each chunk-layer's copies");
        return new int[]{computeDownloads, epilogues};
    }

    @Test
    void theSwitchsSpellingsAndABadValue() {
        String before = System.getProperty(ObserverDownloadMode.PROPERTY);
        try {
            System.clearProperty(ObserverDownloadMode.PROPERTY);
            assertEquals(ObserverDownloadMode.DOWNLOAD_STREAM, ObserverDownloadMode.fromProperties());
            for (ObserverDownloadMode m : ObserverDownloadMode.values()) {
                System.setProperty(ObserverDownloadMode.PROPERTY, m.switchName());
                assertEquals(m, ObserverDownloadMode.fromProperties());
            }
            assertEquals("compute-stream", ObserverDownloadMode.COMPUTE_STREAM.switchName());
            System.setProperty(ObserverDownloadMode.PROPERTY, "queued");
            MoepruneException e = assertThrows(MoepruneException.class, ObserverDownloadMode::fromProperties);
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
            assertEquals("-Dmoeprune.observerDownloads=queued: not download-stream, compute-stream or waited",
                    e.getMessage());
        } finally {
            if (before == null) System.clearProperty(ObserverDownloadMode.PROPERTY);
            else System.setProperty(ObserverDownloadMode.PROPERTY, before);
        }
    }
}
