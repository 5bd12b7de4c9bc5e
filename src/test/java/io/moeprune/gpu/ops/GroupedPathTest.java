package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code -Dmoeprune.groupedPath} switch: its spellings, the older boolean, a bad value as bad input, and the gemv
 * path's pieces.
 */
class GroupedPathTest {

    @Test
    void switchNamesRoundTrip() {
        for (CudaOps.GroupedPath p : CudaOps.GroupedPath.values()) assertEquals(p, CudaOps.GroupedPath.named(p.switchName()));
        assertEquals(CudaOps.GroupedPath.GROUPED_BF16, CudaOps.GroupedPath.named(" Grouped-BF16 "));
        assertEquals("per-expert", CudaOps.GroupedPath.PER_EXPERT.switchName());
    }

    @Test
    void theGemvPathSplitsExpertsIntoPiecesOfAtMostEightRows() {
        assertEquals("gemv", CudaOps.GroupedPath.GEMV.switchName());
        assertEquals(8, CudaGroupedProducts.GEMV_MAX_ROWS);
        assertEquals(0, CudaGroupedProducts.gemvPieces(new int[]{0, 0}));
        // masked, one, a full piece, one more row, two full pieces and one row: 0 + 1 + 1 + 2 + 3
        assertEquals(7, CudaGroupedProducts.gemvPieces(new int[]{0, 1, 8, 9, 17}));
    }

    @Test
    void autoTakesTheGemvKernelOnlyWhereEveryExpertFitsOnePiece() {
        assertTrue(CudaGroupedProducts.autoTakesGemv(new int[]{0, 1, 8, 2}));
        assertFalse(CudaGroupedProducts.autoTakesGemv(new int[]{0, 1, 9, 2}), "an expert of two pieces: cuBLAS");
        assertFalse(CudaGroupedProducts.autoTakesGemv(new int[]{0, 0}), "no rows: nothing to launch");
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
