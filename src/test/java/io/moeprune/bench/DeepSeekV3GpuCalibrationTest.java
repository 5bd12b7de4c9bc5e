package io.moeprune.bench;

import io.moeprune.gpu.runtime.LayerTimes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU DeepSeek-V3 benchmark's code path (issue 22) on HostOps at a tiny shape, and its projection's arithmetic on
 * given layer times.
 */
class DeepSeekV3GpuCalibrationTest {
    private static final String TINY = "hidden=256,moeLayers=2,heads=4,qLora=64,kvLora=64,rope=32,nope=32,v=32,"
            + "experts=16,groups=4,topkGroup=2,topK=4,moeInter=128,denseInter=256,vocab=512";

    @Test
    void calibratesOnHostOpsAndPrintsEachLayer(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("ds3"), warm = tmp.resolve("ds3-warmup");
        RandomDeepSeekV3.write(dir, RandomDeepSeekV3.Shape.FULL.with(TINY), 42);
        RandomDeepSeekV3.write(warm, RandomDeepSeekV3.Shape.FULL.with(TINY + ",moeLayers=1"), 7);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        double projected = DeepSeekV3GpuCalibration.run("host", dir, warm, 2, 32,
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(projected > 0, out);
        assertTrue(out.contains("3 layers (1 dense), on host"), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("0      dense ")), out);
        assertEquals(2, out.lines().filter(l -> l.matches("[12] +moe .*")).count(), out);
        assertTrue(out.contains("goal 10 min: met"), out);
    }

    @Test
    void projectsSetupOnceAndLayersPacedByTheLongerOfWallAndCopy() {
        List<LayerTimes> times = List.of(new LayerTimes(0, 2.0, 0.5, 0.3, 0.1, 1.0, 1_000_000_000L),
                new LayerTimes(1, 8.0, 3.0, 2.0, 1.0, 6.0, 11_000_000_000L),
                new LayerTimes(2, 12.0, 3.0, 2.0, 1.0, 9.0, 11_000_000_000L));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        double projected = DeepSeekV3GpuCalibration.report(times, 1, 22.5, 30_000_000_000L, 80_000_000_000L,
                new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        // Layer 0: copy 0.9 s, compute 1.0 s, so 1.0 s of its 2.0 s wall is setup; the MoE layers are paced by their
        // walls (8 and 12 s, longer than their 6 s copies).
        assertEquals(1.0 + 3 * 1.0 + 58 * 10.0, projected, 1e-9);
        assertTrue(out.contains("23.00 GB copied, peak device memory 30.00 GB of 80.00 GB"), out);
        assertTrue(out.contains("584 s = 9.7 min, goal 10 min: met"), out);
        assertTrue(out.lines().anyMatch(l -> List.of(l.trim().split(" +"))
                .equals(List.of("1", "moe", "8.00", "6.00", "3.00", "2.00", "1.00", "6.00", "11.00"))), out);
    }
}
