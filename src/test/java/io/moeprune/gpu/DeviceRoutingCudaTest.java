package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.ops.RoutingCases;
import io.moeprune.gpu.ops.RoutingSpec;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;
import io.moeprune.runtime.Router;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The routing kernels ({@code route_tokens}, {@code expert_tiles}, {@code expert_offsets}) against HostOps (which CI
 * checks against the CPU's Router) on every {@link RoutingCases} case: ids, expertStart, gatherRow and slotRow
 * exact; weights within 1 ulp (exp is in double on both sides, rounded to float: they may differ only where a double
 * exp lands within an ulp of a float rounding boundary), the count of weights not bit-exact printed (expected 0).
 * Then the speed: the device routing of a chunk against what it replaces (download the logits, route on the host
 * with the Router, group, upload the tables), timed on the host clock around a synchronisation. Skips without CUDA.
 */
class DeviceRoutingCudaTest {
    private static CudaOps gpu;
    private static HostOps host;

    @BeforeAll
    static void open() {
        gpu = new CudaOps(GpuTestSupport.openOrSkip(8L << 30));
        host = new HostOps(2L << 30);
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        if (host != null) host.close();
    }

    /** One case's device buffers and what came back. */
    private record Run(int[] ids, float[] weights, int[] expertStart, int[] gatherRow, int[] slotRow) {
    }

    private static Run run(DeviceOps ops, Arena arena, RoutingCases.Case c) {
        int e = c.experts(), k = c.spec().topK(), n = c.tokens(), slots = n * k;
        List<DeviceBuffer> held = new ArrayList<>();
        DeviceBuffer logits = upload(ops, arena, MemorySegment.ofArray(c.logits()), held);
        DeviceBuffer bias = c.selectionBias() == null ? null : upload(ops, arena, MemorySegment.ofArray(c.selectionBias()), held);
        DeviceBuffer kept = c.kept() == null ? null : upload(ops, arena, MemorySegment.ofArray(c.keptFlags()), held);
        DeviceBuffer ids = alloc(ops, 4L * slots, held), weights = alloc(ops, 4L * slots, held);
        DeviceBuffer start = alloc(ops, 4L * (e + 1), held), gather = alloc(ops, 4L * slots, held);
        DeviceBuffer slotRow = alloc(ops, 4L * slots, held);
        DeviceBuffer scratch = alloc(ops, DeviceOps.groupingScratchBytes(slots, e), held);
        ops.route(c.spec(), c.strategy(), logits, n, bias, kept, ids, weights);
        ops.groupByExpert(ids, slots, k, e, scratch, start, gather, slotRow);
        Run r = new Run(DeviceArrays.ints(ops, arena, ids, slots), DeviceArrays.floats(ops, arena, weights, slots),
                DeviceArrays.ints(ops, arena, start, e + 1), DeviceArrays.ints(ops, arena, gather, slots),
                DeviceArrays.ints(ops, arena, slotRow, slots));
        for (DeviceBuffer b : held) ops.free(b);
        return r;
    }

    private static DeviceBuffer alloc(DeviceOps ops, long bytes, List<DeviceBuffer> held) {
        DeviceBuffer b = ops.alloc(bytes, "a routing test buffer");
        held.add(b);
        return b;
    }

    private static DeviceBuffer upload(DeviceOps ops, Arena arena, MemorySegment heap, List<DeviceBuffer> held) {
        DeviceBuffer b = DeviceArrays.upload(ops, arena, heap, "a routing test buffer");
        held.add(b);
        return b;
    }

    @Test
    void routingKernelsMatchHostOpsOnEveryCase() {
        long inexact = 0, weights = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (RoutingCases.Case c : RoutingCases.all(3000)) {
                Run want = run(host, arena, c), got = run(gpu, arena, c);
                assertArrayEquals(want.ids(), got.ids(), c.name() + ": ids");
                assertArrayEquals(want.expertStart(), got.expertStart(), c.name() + ": expertStart");
                assertArrayEquals(want.gatherRow(), got.gatherRow(), c.name() + ": gatherRow");
                assertArrayEquals(want.slotRow(), got.slotRow(), c.name() + ": slotRow");
                for (int i = 0; i < want.weights().length; i++) {
                    float w = want.weights()[i], g = got.weights()[i];
                    weights++;
                    if (Float.floatToIntBits(w) == Float.floatToIntBits(g)) continue;
                    inexact++;
                    assertTrue(Math.abs(w - g) <= Math.ulp(w), c.name() + ": weight " + i + " " + g + " vs " + w);
                }
            }
        }
        System.out.printf("device routing: %d weights, %d not bit-exact (within 1 ulp)%n", weights, inexact);
    }

    @Test
    void routingSpeedAgainstTheHostRoundTrip() {
        System.out.println("device routing of a chunk, " + gpu.device().info().describe());
        System.out.printf("%-52s %12s %12s %8s%n", "router, tokens", "device ms", "host ms", "ratio");
        speedRow("Qwen3-MoE 64 experts top-8", 16384, new MoeSpec(64, 8, 8, MoeSpec.Scoring.SOFTMAX, true, 1f,
                MoeSpec.Groups.NONE, false, false, 0, 0, false, MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU));
        speedRow("Qwen3-30B-A3B 128 experts top-8", 16384, new MoeSpec(128, 8, 8, MoeSpec.Scoring.SOFTMAX, true, 1f,
                MoeSpec.Groups.NONE, false, false, 0, 0, false, MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU));
        speedRow("DeepSeek-V3 256 experts, 4 of 8 groups, top-8", 16384, new MoeSpec(256, 8, 8,
                MoeSpec.Scoring.SIGMOID, true, 2.5f, new MoeSpec.Groups(8, 4, MoeSpec.Groups.GroupScore.SUM_TOP2), true,
                false, 0, 0, false, MoeSpec.ExpertLayout.PER_EXPERT, MoeSpec.Activation.SWIGLU));
    }

    private static void speedRow(String what, int tokens, MoeSpec m) {
        int e = m.numExperts(), k = m.topK(), slots = tokens * k;
        Random rnd = new Random(7);
        float[] z = new float[tokens * e], bias = m.selectionBias() ? new float[e] : null;
        for (int i = 0; i < z.length; i++) z[i] = (float) rnd.nextGaussian();
        if (bias != null) for (int i = 0; i < e; i++) bias[i] = 0.05f * (float) rnd.nextGaussian();
        Router router = new Router(m, bias);
        RoutingSpec spec = RoutingSpec.of(router);
        try (Arena arena = Arena.ofConfined()) {
            List<DeviceBuffer> held = new ArrayList<>();
            DeviceBuffer logits = upload(gpu, arena, MemorySegment.ofArray(z), held);
            DeviceBuffer b = bias == null ? null : upload(gpu, arena, MemorySegment.ofArray(bias), held);
            DeviceBuffer ids = alloc(gpu, 4L * slots, held), weights = alloc(gpu, 4L * slots, held);
            DeviceBuffer start = alloc(gpu, 4L * (e + 1), held), gather = alloc(gpu, 4L * slots, held);
            DeviceBuffer slotRow = alloc(gpu, 4L * slots, held);
            DeviceBuffer scratch = alloc(gpu, DeviceOps.groupingScratchBytes(slots, e), held);
            MemorySegment startHost = arena.allocate(4L * (e + 1), 8);
            double device = millis(() -> {
                gpu.route(spec, GroupStrategy.BALANCED, logits, tokens, b, null, ids, weights);
                gpu.groupByExpert(ids, slots, k, e, scratch, start, gather, slotRow);
                gpu.download(start, 0, startHost);   // the one synchronising copy the MoE block keeps
            });
            MemorySegment zHost = arena.allocate(4L * z.length, 8), table = arena.allocate(4L * slots, 8);
            double hostPath = millis(() -> {
                gpu.download(logits, 0, zHost);
                float[] zz = zHost.toArray(JAVA_FLOAT);
                int[] chosen = new int[slots];
                float[] w = new float[slots], sc = new float[2 * e];
                for (int t = 0; t < tokens; t++) router.route(zz, t * e, null, chosen, w, t * k, sc);
                int[] st = new int[e + 1], gr = new int[slots], sr = new int[slots];
                for (int id : chosen) st[id + 1]++;
                for (int i = 0; i < e; i++) st[i + 1] += st[i];
                int[] fill = Arrays.copyOf(st, e);
                for (int s = 0; s < slots; s++) {
                    sr[s] = fill[chosen[s]]++;
                    gr[sr[s]] = s / k;
                }
                MemorySegment.copy(gr, 0, table, JAVA_INT, 0, slots);
                gpu.upload(table, gather, 0);
                MemorySegment.copy(sr, 0, table, JAVA_INT, 0, slots);
                gpu.upload(table, slotRow, 0);
                MemorySegment.copy(w, 0, table, JAVA_FLOAT, 0, slots);
                gpu.upload(table, weights, 0);
                gpu.synchronize();
            });
            System.out.printf("%-52s %12.3f %12.3f %7.1fx%n", what + ", " + tokens, device, hostPath, hostPath / device);
            for (DeviceBuffer d : held) gpu.free(d);
        }
    }

    /** Milliseconds of one run of {@code work} on the host clock (it ends synchronised): the median of 5 after 2 warm-ups. */
    private static double millis(Runnable work) {
        work.run();
        work.run();
        gpu.synchronize();
        double[] t = new double[5];
        for (int i = 0; i < t.length; i++) {
            long t0 = System.nanoTime();
            work.run();
            gpu.synchronize();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[2];
    }
}
