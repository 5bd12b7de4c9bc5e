package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceArrays;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.ops.RoutingCases;
import io.moeprune.model.GroupStrategy;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device routing ({@link DeviceOps#route} then {@link DeviceOps#groupByExpert}, as HostOps computes them, step by
 * step as the kernels do) against {@link HostRouting} (the CPU's Router and grouping) on every {@link RoutingCases}
 * case: the same ids, the same weight bits, the same expertStart, gatherRow and slotRow.
 */
class DeviceRoutingTest {
    private static final int TOKENS = 700;

    @Test
    void deviceRoutingIsTheCpuRoutingForEveryRouterMaskAndStrategy() {
        int checked = 0, ties = 0;
        try (HostOps ops = new HostOps(1L << 30); Arena arena = Arena.ofConfined()) {
            for (RoutingCases.Case c : RoutingCases.all(TOKENS)) {
                int e = c.experts(), k = c.spec().topK(), n = c.tokens(), slots = n * k;
                HostRouting want = HostRouting.route(c.router(), c.logits(), n, e, k, c.kept(), c.strategy());
                Routed got = routeOnDevice(ops, arena, c);
                assertArrayEquals(want.ids(), got.ids, c.name() + ": ids");
                assertArrayEquals(bits(want.weights()), bits(got.weights), c.name() + ": weight bits");
                assertArrayEquals(want.expertStart(), got.expertStart, c.name() + ": expertStart");
                assertArrayEquals(want.gatherRow(), got.gatherRow, c.name() + ": gatherRow");
                assertArrayEquals(want.slotRow(), got.slotRow, c.name() + ": slotRow");
                assertEquals(slots, got.expertStart[e], c.name());
                checked++;
                float[] scratch = new float[2 * e];
                for (int t = 0; t < n; t++) {
                    if (c.router().tieDependent(c.logits(), t * e, c.kept(), c.strategy(), scratch)) ties++;
                }
            }
        }
        assertTrue(checked >= 4 * 15, "cases: " + checked);   // 15 routers × (unmasked + 3 strategies), and more
        // The coarse logits must make the tie rule decide often, or ties would not be tested.
        assertTrue(ties > 1000, "tie-dependent tokens: " + ties);
    }

    /**
     * The pass on HostOps with a mask (kept flags uploaded per layer, DeepSeek-V3's selection bias from the slot)
     * against the CPU's pass with the same mask, under each group strategy: the same choices but a few BF16 swaps.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"deepseek_v3, balanced", "deepseek_v3, nogroup", "deepseek_v3, easyep-mul", "deepseek_v2, balanced",
            "deepseek_v2, easyep-mul", "qwen3_moe, balanced", "gpt_oss, balanced"})
    void aMaskedPassRoutesOnTheDeviceAsTheCpu(String fixture, String strategy) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps ops = new HostOps(1L << 30)) {
            int e = model.spec().moe().numExperts();
            int[] kept = IntStream.range(0, e).filter(i -> i % 4 < 2).toArray();   // two of every four
            Map<Integer, int[]> layers = new TreeMap<>();
            for (int layer : model.spec().moeLayers()) layers.put(layer, kept);
            ExpertMask mask = ExpertMask.of(layers, e, GroupStrategy.parse(strategy)).validate(model.spec(), null);
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 17, 5);
            PassComparison.Result r = PassComparison.compare(model, seqs, PassComparison.on(ops, 1L << 30), mask);
            System.out.println(fixture + " " + strategy + " masked: " + r);
            assertTrue(r.logitError() < 3e-2, fixture + " logits " + r);
            assertEquals(0, r.differing(), fixture + " expert choices " + r);
            // PassComparison excuses a swap where the logits barely moved, which a mask the device ignored would
            // be (measured: 24 to 32 swapped of 64); a few BF16 swaps are all a pass that applies it shows (0 to 3).
            long swapped = (long) r.nearTies() + r.withinError() + r.differing() + r.downstream();
            assertTrue(swapped <= r.tokens() / 10, fixture + " swapped choices " + r);
        }
    }

    /** What the device computed, downloaded. */
    record Routed(int[] ids, float[] weights, int[] expertStart, int[] gatherRow, int[] slotRow) {
    }

    static Routed routeOnDevice(DeviceOps ops, Arena arena, RoutingCases.Case c) {
        int e = c.experts(), k = c.spec().topK(), n = c.tokens(), slots = n * k;
        DeviceBuffer logits = DeviceArrays.upload(ops, arena, MemorySegment.ofArray(c.logits()), "a test input");
        DeviceBuffer bias = c.selectionBias() == null ? null
                : DeviceArrays.upload(ops, arena, MemorySegment.ofArray(c.selectionBias()), "a test input");
        int[] flags = c.keptFlags();
        DeviceBuffer kept = flags == null ? null
                : DeviceArrays.upload(ops, arena, MemorySegment.ofArray(flags), "a test input");
        DeviceBuffer ids = ops.alloc(4L * slots, "ids"), weights = ops.alloc(4L * slots, "weights");
        DeviceBuffer start = ops.alloc(4L * (e + 1), "expertStart"), gather = ops.alloc(4L * slots, "gatherRow");
        DeviceBuffer slotRow = ops.alloc(4L * slots, "slotRow");
        DeviceBuffer scratch = ops.alloc(DeviceOps.groupingScratchBytes(slots, e), "grouping scratch");
        ops.route(c.spec(), c.strategy(), logits, n, bias, kept, ids, weights);
        ops.groupByExpert(ids, slots, k, e, scratch, start, gather, slotRow);
        Routed r = new Routed(DeviceArrays.ints(ops, arena, ids, slots), DeviceArrays.floats(ops, arena, weights, slots),
                DeviceArrays.ints(ops, arena, start, e + 1), DeviceArrays.ints(ops, arena, gather, slots),
                DeviceArrays.ints(ops, arena, slotRow, slots));
        for (DeviceBuffer b : Arrays.asList(logits, bias, kept, ids, weights, start, gather, slotRow, scratch)) ops.free(b);
        return r;
    }

    /** Weight bits, NaN canonical (Java's float arithmetic does not promise one NaN payload). */
    static int[] bits(float[] w) {
        int[] b = new int[w.length];
        for (int i = 0; i < w.length; i++) b[i] = Float.floatToIntBits(w[i]);
        return b;
    }
}
