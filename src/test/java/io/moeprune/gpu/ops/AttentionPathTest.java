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
 * the warp kernel; flash on heads it does not hold: as auto), the flash block height {@code -Dmoeprune.flashRows}
 * and how flash reads K and V {@code -Dmoeprune.flashKv} (with the bf16 variant's shared memory and scratch).
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
    void autoTakesFlashFirstSinceItHasRunOnAGpuIn128RowBlocksOnBf16KeysAndValues() {
        assertEquals(true, CudaOps.AUTO_TAKES_FLASH);
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.AUTO, true, 10, 128, 128));
        assertEquals(AttentionPath.FLASH, CudaOps.pathFor(AttentionPath.AUTO, true, 4096, 128, 128));
        // where no flash layout holds the heads, auto keeps its rule without flash
        assertEquals(AttentionPath.WARP, CudaOps.pathFor(AttentionPath.AUTO, false, 10, 128, 128));
        assertEquals(AttentionPath.TENSOR, CudaOps.pathFor(AttentionPath.AUTO, false, 4096, 128, 128));
        assertEquals(128, CudaOps.DEFAULT_FLASH_ROWS);
        assertEquals(CudaOps.FlashKv.BF16, CudaOps.DEFAULT_FLASH_KV);
    }

    @Test
    void flashBlocksOf64Or128RowsAndOneLineForAnythingElse() {
        assertEquals(64, CudaOps.parseFlashRows("64"));
        assertEquals(128, CudaOps.parseFlashRows(" 128"));
        assertOneLineEach(CudaOps::parseFlashRows, "-Dmoeprune.flashRows=%s: not 64 or 128", "96", "abc", "");
    }

    @Test
    void flashKvF32OrBf16AndOneLineForAnythingElse() {
        assertEquals(CudaOps.FlashKv.F32, CudaOps.parseFlashKv("f32"));
        assertEquals(CudaOps.FlashKv.BF16, CudaOps.parseFlashKv(" bf16"));
        assertOneLineEach(CudaOps::parseFlashKv, "-Dmoeprune.flashKv=%s: not f32 or bf16", "fp16", "BF16x", "");
    }

    /** Each bad value of a switch is refused with the one line {@code message} (its %s the value), exit code 2. */
    private static void assertOneLineEach(java.util.function.Function<String, ?> parse, String message,
                                          String... bad) {
        for (String value : bad) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> parse.apply(value));
            assertEquals(String.format(message, value), e.getMessage());
            assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        }
    }

    @Test
    void bf16KvSharedMemoryIsTwoBuffersOfTheRegisterLayoutsHeads() {
        // 2 buffers x 64 keys x (K row + V row, 8 BF16 of padding each) x 2 bytes; 192/128 passes 48 KB (dynamic)
        assertEquals(2 * 64 * (72 + 72) * 2, CudaOps.flashSharedBytes(64, 64));
        assertEquals(36864, CudaOps.flashSharedBytes(48, 64));
        assertEquals(69632, CudaOps.flashSharedBytes(128, 128));
        assertEquals(69632, CudaOps.flashSharedBytes(96, 64));
        assertEquals(86016, CudaOps.flashSharedBytes(192, 128));
        // K then V of 1000 tokens, 4 kv heads of 128, each part on 256 bytes
        assertEquals(2 * 1_024_000L, CudaOps.bf16KvBytes(1000, 4, 128, 128));
        assertEquals(2048L + 1280L, CudaOps.bf16KvBytes(10, 1, 96, 64));
    }
}
