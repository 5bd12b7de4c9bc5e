package io.moeprune.gpu.runtime;

import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.safetensors.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Staging a layer on several threads, its regions split into ranges, writes the bytes one thread writes: every kind
 * of region (BF16 copied, F32/F16 converted, FP8 raw, MXFP4 reordered, transposed, vectors, F32 routers).
 */
class StagingPoolTest {
    @Test
    void severalThreadsInSmallPiecesStageTheBytesOfOne() {
        Random r = new Random(11);
        int cols = 96;
        try (Arena arena = Arena.ofShared()) {   // the pool's threads read it
            SlotLayout layout = new SlotLayout();
            layout.bf16(SlotLayoutTest.matrix(arena, DType.F32, 37, cols, r), SlotLayoutTest.matrix(arena, DType.F16, 21, cols, r),
                    SlotLayoutTest.matrix(arena, DType.BF16, 53, cols, r), SlotLayoutTest.matrix(arena, DType.F8_E4M3, 70, cols, r));
            layout.f32(new float[]{1f, 2f, 3f});
            layout.f32(SlotLayoutTest.matrix(arena, DType.BF16, 19, cols, r));
            int rows = 8;
            MemorySegment blocks = arena.allocate((long) rows * cols / 2), scales = arena.allocate((long) rows * cols / 32);
            for (long i = 0; i < blocks.byteSize(); i++) blocks.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
            for (long i = 0; i < scales.byteSize(); i++) scales.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
            int[] order = {1, 0, 3, 2, 5, 4, 7, 6};
            layout.mxfp4(new Mxfp4Matrix(blocks, scales, rows, cols), order);
            layout.bf16Transposed(SlotLayoutTest.matrix(arena, DType.BF16, cols, rows, r), order);

            MemorySegment one = arena.allocate(layout.uploadBytes()), several = arena.allocate(layout.uploadBytes());
            layout.stage(one);
            assertTrue(layout.stagingTasks(several, 512).size() > 40, "large regions are split");
            assertEquals(1, layout.stagingTasks(several, Long.MAX_VALUE).size(), "small regions are grouped");
            try (StagingPool pool = new StagingPool(4, 512)) {
                assertEquals(4, pool.threads());
                pool.stage(layout, several);
            }
            assertEquals(-1, one.mismatch(several));
        }
    }

    @Test
    void aPieceFailureIsRethrownAsItWas() {
        try (Arena arena = Arena.ofShared(); StagingPool pool = new StagingPool(3, 256)) {
            SlotLayout layout = new SlotLayout();
            Arena checkpoint = Arena.ofShared();
            layout.bf16(SlotLayoutTest.matrix(checkpoint, DType.F32, 64, 64, new Random(1)));
            checkpoint.close();   // its reads now fail, on whichever thread stages them
            MemorySegment staging = arena.allocate(layout.uploadBytes());
            RuntimeException e = assertThrows(RuntimeException.class, () -> pool.stage(layout, staging));
            assertSame(IllegalStateException.class, e.getClass());
        }
    }
}
