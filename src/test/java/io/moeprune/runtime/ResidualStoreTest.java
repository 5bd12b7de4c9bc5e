package io.moeprune.runtime;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResidualStoreTest {

    @Test
    void keepsRowsOnTheHeapWithinTheBudget(@TempDir Path dir) {
        try (ResidualStore s = ResidualStore.of(64, 64, dir)) {
            assertInstanceOf(ResidualStore.OnHeap.class, s);
        }
    }

    @Test
    void spillsToATemporaryFileBeyondTheBudgetAndDeletesIt(@TempDir Path dir) throws Exception {
        float[] a = {1f, -2.5f, 3f}, b = {4f, Float.MIN_VALUE, -0f, 7f};
        Path file;
        try (ResidualStore s = ResidualStore.of(4L * (a.length + b.length), 8, dir)) {
            ResidualStore.Spilled spilled = assertInstanceOf(ResidualStore.Spilled.class, s);
            file = spilled.file();
            assertTrue(Files.exists(file));
            s.add(a);
            s.add(b);
            float[] x = s.get(1);
            assertArrayEquals(b, x);
            x[2] = 9f;
            s.put(1, x);
            assertArrayEquals(new float[]{4f, Float.MIN_VALUE, 9f, 7f}, s.get(1));
            assertArrayEquals(a, s.get(0), "the neighbour is untouched");
        }
        assertFalse(Files.exists(file));
    }
}
