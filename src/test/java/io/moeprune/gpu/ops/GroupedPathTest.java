package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code -Dmoeprune.groupedPath} switch: its spellings, the older boolean, and a bad value as bad input. */
class GroupedPathTest {

    @Test
    void switchNamesRoundTrip() {
        for (CudaOps.GroupedPath p : CudaOps.GroupedPath.values()) assertEquals(p, CudaOps.GroupedPath.named(p.switchName()));
        assertEquals(CudaOps.GroupedPath.GROUPED_BF16, CudaOps.GroupedPath.named(" Grouped-BF16 "));
        assertEquals("per-expert", CudaOps.GroupedPath.PER_EXPERT.switchName());
    }

    @Test
    void anUnknownPathIsBadInput() {
        MoepruneException e = assertThrows(MoepruneException.class, () -> CudaOps.GroupedPath.named("fastest"));
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        assertTrue(e.getMessage().contains("-Dmoeprune.groupedPath=fastest"), e.getMessage());
    }

    @Test
    void theOlderBf16SwitchMeansGroupedBf16() {
        String path = System.getProperty("moeprune.groupedPath"), bf16 = System.getProperty("moeprune.groupedBf16Outputs");
        try {
            System.clearProperty("moeprune.groupedPath");
            System.clearProperty("moeprune.groupedBf16Outputs");
            assertEquals(CudaOps.GroupedPath.AUTO, CudaOps.GroupedPath.fromProperties());
            System.setProperty("moeprune.groupedBf16Outputs", "true");
            assertEquals(CudaOps.GroupedPath.GROUPED_BF16, CudaOps.GroupedPath.fromProperties());
            System.setProperty("moeprune.groupedPath", "batched");   // the new switch wins
            assertEquals(CudaOps.GroupedPath.BATCHED, CudaOps.GroupedPath.fromProperties());
        } finally {
            restore("moeprune.groupedPath", path);
            restore("moeprune.groupedBf16Outputs", bf16);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }
}
