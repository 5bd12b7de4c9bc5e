package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ops' caching allocator under the pass: a second run in one process (slots, staging, chunk buffers, residuals,
 * LM head) allocates no new device or pinned memory and gives the same logits; between runs nothing is in use, what
 * is cached counts against the bound but is released for an allocation that needs its room.
 */
class AllocationReuseTest {
    private static final Path FP8 = Path.of("src/test/resources/conformance/deepseek_v3_fp8");
    private static final long BOUND = 1L << 30;

    @Test
    void aSecondRunAllocatesNothingNewAndTheCacheYieldsToTheBound() {
        try (Model model = Models.open(FP8); HostOps ops = new HostOps(BOUND)) {
            List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 3, 17, 5);
            Map<Integer, float[]> first = run(model, ops, seqs);
            long device = ops.deviceAllocations(), pinned = ops.pinnedAllocations();
            assertEquals(0, ops.allocatedBytes());
            assertTrue(ops.cachedBytes() > 0 && ops.pinnedCachedBytes() > 0);

            Map<Integer, float[]> second = run(model, ops, seqs);
            assertEquals(device, ops.deviceAllocations(), "device buffers allocated again");
            assertEquals(pinned, ops.pinnedAllocations(), "pinned buffers allocated again");
            for (int s : first.keySet()) assertArrayEquals(first.get(s), second.get(s), "sequence " + s);

            // All of the bound is there for the taking though the cache holds part of it.
            long cached = ops.cachedBytes();
            DeviceBuffer all = ops.alloc(BOUND, "everything");
            assertEquals(BOUND, ops.allocatedBytes());
            assertEquals(0, ops.cachedBytes(), cached + " cached bytes released");
            ops.free(all);
        }
    }

    private static Map<Integer, float[]> run(Model model, HostOps ops, List<int[]> seqs) {
        Map<Integer, float[]> logits = new HashMap<>();
        new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.LAST, ops, BOUND)
                .run(seqs, s -> null, logits::put, LayerMajorListener.NONE);
        return logits;
    }
}
