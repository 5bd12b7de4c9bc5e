package io.moeprune.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParallelTest {
    private final int before = Parallel.threads();

    @AfterEach
    void restore() {
        Parallel.setThreads(before);
    }

    @Test
    void everyItemRunsExactlyOnceInChunksOfAtLeastOneItem() {
        Parallel.setThreads(4);
        for (int count : new int[]{1, 3, 7, 64, 129, 1000, 4097}) {
            AtomicIntegerArray runs = new AtomicIntegerArray(count);
            AtomicLong calls = new AtomicLong();
            Parallel.forRange(count, Parallel.MIN_WORK_PER_THREAD, (from, to) -> {
                calls.incrementAndGet();
                for (int i = from; i < to; i++) runs.incrementAndGet(i);
            });
            for (int i = 0; i < count; i++) assertEquals(1, runs.get(i), "item " + i + " of " + count);
            assertTrue(calls.get() <= count, "no empty chunks: " + calls.get() + " calls for " + count);
        }
    }
}
