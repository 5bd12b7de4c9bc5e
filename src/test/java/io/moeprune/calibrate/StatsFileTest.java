package io.moeprune.calibrate;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StatsFileTest {

    @Test
    void roundTripKeepsEveryValueAndTheMetadata(@TempDir Path dir) throws Exception {
        CalibrationAccumulator acc = new CalibrationAccumulator(2, 3, 2);
        acc.token(0, new float[]{1, 0}, new float[]{0.5f, 0.5f}, new int[]{0, 2}, new float[]{0.6f, 0.4f},
                new float[]{1.5f, 2.5f}, new float[]{0.3f, -1f, 0.2f});
        acc.token(1, new float[]{0, 1}, new float[]{1, 0}, new int[]{1, 2}, new float[]{0.9f, 0.1f},
                new float[]{3f, 1f}, new float[]{-2f, 1f, 0.5f});
        acc.endDemo("d1", 1);
        acc.token(0, new float[]{1, 1}, new float[]{-1, 0}, new int[]{2, 1}, new float[]{0.7f, 0.3f},
                new float[]{1f, 1f}, new float[]{0f, 0.1f, 0.9f});
        acc.endDemo("d2", 1);
        ExpertStats stats = acc.result("sha256:abc", "math", List.of(1, 3));
        Path f = dir.resolve("math.stats");
        StatsFile.write(stats, "qwen3_moe", f);
        ExpertStats back = StatsFile.read(f);
        assertEquals("sha256:abc", back.fingerprint());
        assertEquals("math", back.domain());
        assertEquals(List.of(1, 3), back.moeLayers());
        assertEquals(stats.demos(), back.demos());
        for (Statistic s : Statistic.values()) {
            assertArrayEquals(stats.values().get(s), back.values().get(s), s.key());
        }
        assertEquals("qwen3_moe", StatsFile.family(f));
        assertEquals(1, Files.list(dir).count(), "no temporary files left behind");
    }

    @Test
    void otherFilesAreRefusedWithTheFileName(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.stats");
        assertTrue(assertThrows(MoepruneException.class, () -> StatsFile.read(missing)).getMessage().startsWith(missing.toString()));
        Path fixture = Path.of("src/test/resources/conformance/mixtral/model.safetensors");
        var ex = assertThrows(MoepruneException.class, () -> StatsFile.read(fixture));
        assertTrue(ex.getMessage().contains("not a moeprune statistics file"), ex.getMessage());
    }
}
