package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code -Dmoeprune.epilogueKernel} without a GPU: the switch's two names and its one line for anything else, and
 * which calls the vector kernel takes (k up to 8, widths multiple of 4, its 16-byte loads of F32 rows, x and the shared
 * rows and 8-byte loads of BF16 rows on their boundaries), the scalar kernel running the rest. The kernel's source is
 * checked on the CPU by scripts/check-moe-epilogue.sh and against HostOps on the GPU by CudaOpsTest.
 */
class EpilogueKernelTest {
    private static final DeviceBuffer ALIGNED = new DeviceBuffer(1L << 20, 1L << 20);

    @Test
    void theSwitchTakesScalarOrVectorAndOneLineForAnythingElse() {
        assertEquals(CudaOps.EpilogueKernel.SCALAR, CudaOps.parseEpilogueKernel("scalar"));
        assertEquals(CudaOps.EpilogueKernel.VECTOR, CudaOps.parseEpilogueKernel(" vector"));
        for (String bad : new String[]{"vec", "", "VECTOR"}) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> CudaOps.parseEpilogueKernel(bad));
            assertEquals("-Dmoeprune.epilogueKernel=" + bad + ": not scalar or vector", e.getMessage());
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        }
    }

    @Test
    void theVectorKernelTakesUpToEightSlotsAndWidthsMultipleOfFour() {
        for (ExpertOutputs type : ExpertOutputs.values()) {
            assertTrue(takes(8, 2048, type), "top-8, 2048 " + type);
            assertTrue(takes(1, 4, type), "top-1, 4 " + type);
            assertFalse(takes(9, 2048, type), "top-9 " + type);
            assertFalse(takes(12, 1000, type), "top-12 " + type);
            assertFalse(takes(4, 1002, type), "width 1002 " + type);
            assertFalse(takes(4, 7, type), "width 7 " + type);
        }
    }

    @Test
    void theVectorKernelTakesOnlyRowsOnItsLoadsBoundaries() {
        DeviceBuffer at8 = shifted(8), at4 = shifted(4);
        assertTrue(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.BF16, at8, null, ALIGNED), "BF16 rows at 8");
        assertFalse(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.BF16, at4, null, ALIGNED), "BF16 rows at 4");
        assertFalse(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.F32, at8, null, ALIGNED), "F32 rows at 8");
        assertFalse(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.F32, ALIGNED, null, at8), "x at 8");
        assertFalse(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.F32, ALIGNED, at4, ALIGNED), "shared at 4");
        assertTrue(CudaOps.vectorEpilogueTakes(8, 2048, ExpertOutputs.F32, ALIGNED, ALIGNED, shifted(16 * 2048)),
                "x from a row on");
    }

    private static boolean takes(int k, int width, ExpertOutputs type) {
        return CudaOps.vectorEpilogueTakes(k, width, type, ALIGNED, ALIGNED, ALIGNED);
    }

    private static DeviceBuffer shifted(long bytes) {
        return new DeviceBuffer(ALIGNED.address() + bytes, ALIGNED.bytes() - bytes);
    }
}
