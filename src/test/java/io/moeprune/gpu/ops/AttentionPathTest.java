package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.ops.CudaOps.AttentionPath;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Which prefill attention {@link CudaOps} takes (no GPU needed): the flash kernel whose registers hold the heads, and
 * the rule of {@code -Dmoeprune.attention} (auto: flash first, then tensor cores from 256 tokens or wide heads, else
 * the warp kernel; flash on heads it does not hold: as auto), and the flash block height {@code -Dmoeprune.flashRows}.
 */
class AttentionPathTest {
    @Test
    void theSmallestFlashLayoutThatHoldsTheHeads() {
        assertEquals("flash_attention_64", CudaOps.flashKernel(9, 64, 64));            // gpt-oss
        assertEquals("flash_attention_128", CudaOps.flashKernel(9, 128, 128));         // Qwen3, OLMoE, Mixtral
        assertEquals("flash_attention_192_128", CudaOps.flashKernel(9, 192, 128));     // DeepSeek's MLA
        assertEquals("flash_attention_128", CudaOps.flashKernel(8, 96, 64));           // zero-padded
        assertEquals("flash_attention_128", CudaOps.flashKernel(9, 64, 128));
        assertNull(CudaOps.flashKernel(9, 192, 192));
        assertNull(CudaOps.flashKernel(9, 256, 256));
        assertNull(CudaOps.flashKernel(7, 128, 128));                                  // no BF16 mma.sync before sm_80
    }

    @Test
    void autoTakesFlashWhereItHoldsTheHeadsThenThePreviousRule() {
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.AUTO, true, true, 10, 128, 128));
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.AUTO, true, true, 4096, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.AUTO, true, false, 256, 128, 128));
        assertEquals(AttentionPath.WARP, CudaOps.pathFor(AttentionPath.AUTO, false, 255, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.AUTO, false, 256, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.AUTO, false, 10, 512, 512));
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.FLASH, true, 10, 64, 64));
        assertEquals(AttentionPath.WARP, CudaOps.pathFor(AttentionPath.FLASH, false, 10, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.FLASH, false, 10, 512, 512));
        assertEquals(AttentionPath.WARP, CudaOps.pathFor(AttentionPath.WARP, true, 4096, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.TENSOR, true, 10, 128, 128));
    }

    @Test
    void autoLeavesFlashOutUntilItHasRunOnAGpu() {
        assertEquals(false, CudaOps.AUTO_TAKES_FLASH);
        assertEquals(AttentionPath.WARP, CudaOps.pathFor(AttentionPath.AUTO, true, 10, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.AUTO, true, 4096, 128, 128));
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.FLASH, true, 4096, 128, 128));
    }

    @Test
    void flashBlocksOf64Or128RowsAndOneLineForAnythingElse() {
        assertEquals(64, CudaOps.parseFlashRows("64"));
        assertEquals(128, CudaOps.parseFlashRows(" 128"));
        for (String bad : new String[]{"96", "abc", ""}) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> CudaOps.parseFlashRows(bad));
            assertEquals("-Dmoeprune.flashRows=" + bad + ": not 64 or 128", e.getMessage());
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        }
    }
}
