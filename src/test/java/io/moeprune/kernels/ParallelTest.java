package io.moeprune.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    @Test
    void ownedChunksAndOneCounterRunEveryItemOnceWhenAThreadIsSlow() {
        boolean owned = KernelSwitches.ownedChunks(true), interleaved = KernelSwitches.interleavedChunks(false);
        try {
            for (int mode = 0; mode < 3; mode++) {
                boolean on = mode < 2;
                KernelSwitches.ownedChunks(on);
                KernelSwitches.interleavedChunks(mode == 1);
                for (int threads : new int[]{2, 3, 4, 7}) {
                    Parallel.setThreads(threads);
                    for (int count : new int[]{1, 5, 64, 129, 1000}) {
                        AtomicIntegerArray runs = new AtomicIntegerArray(count);
                        Parallel.forRange(count, Parallel.MIN_WORK_PER_THREAD, (from, to) -> {
                            // The caller's share is slow: the others take its chunks from the back.
                            if (from == 0) sleep(2);
                            for (int i = from; i < to; i++) runs.incrementAndGet(i);
                        });
                        for (int i = 0; i < count; i++) {
                            assertEquals(1, runs.get(i), "mode " + mode + ", " + threads + " threads, item " + i + " of " + count);
                        }
                    }
                }
            }
        } finally {
            KernelSwitches.ownedChunks(owned);
            KernelSwitches.interleavedChunks(interleaved);
        }
    }

    @Test
    void idleWorkersReadTheirOwnShareOfTheDeclaredNextCallInOrder() {
        Parallel.setThreads(4);
        int next = 64;
        Map<String, TreeSet<Integer>> read = new ConcurrentHashMap<>();
        ConcurrentSkipListSet<Integer> all = new ConcurrentSkipListSet<>();
        AtomicLong duplicates = new AtomicLong();
        Parallel.readAheadFor(new Parallel.NextCall(next, Parallel.MIN_WORK_PER_THREAD, item -> {
            read.computeIfAbsent(Thread.currentThread().getName(), t -> new TreeSet<>()).add(item);
            if (!all.add(item)) duplicates.incrementAndGet();
            return item;
        }));
        // One item on the caller (too little work to split): the workers have nothing to compute and read ahead.
        Parallel.forRange(1, 1, (from, to) -> sleep(100));
        assertEquals(0, duplicates.get(), "an item read twice");
        assertFalse(read.containsKey(Thread.currentThread().getName()), "the caller reads nothing ahead");
        assertEquals(3, read.size(), "each of the three workers read its share: " + read);
        for (var e : read.entrySet()) {
            TreeSet<Integer> items = e.getValue();
            int part = Integer.parseInt(e.getKey().substring(e.getKey().lastIndexOf('-') + 1));
            // 64 items in 4 parts of 8 chunks of 2 items: part p owns items [16p, 16p + 16).
            assertEquals(16 * part, items.first(), e.getKey());
            assertEquals(16 * part + 15, items.last(), e.getKey());
            assertEquals(16, items.size(), e.getKey());
        }
        // Declared once, read once: the next call reads nothing ahead.
        all.clear();
        Parallel.forRange(1, 1, (from, to) -> sleep(20));
        assertTrue(all.isEmpty(), "read again: " + all);
    }

    @Test
    void aFailingReadAheadEndsNoWorker() {
        Parallel.setThreads(4);
        Parallel.readAheadFor(new Parallel.NextCall(64, Parallel.MIN_WORK_PER_THREAD, item -> {
            throw new IndexOutOfBoundsException("stale");
        }));
        Parallel.forRange(1, 1, (from, to) -> sleep(20));
        // Every worker still takes its chunks: all 4 threads ran a part of a call split four ways.
        java.util.Set<String> names = ConcurrentHashMap.newKeySet();
        Parallel.forRange(4, Parallel.MIN_WORK_PER_THREAD, (from, to) -> {
            names.add(Thread.currentThread().getName());
            sleep(20);
        });
        assertEquals(4, names.size(), names.toString());
    }

    @Test
    void nothingIsReadAheadWithTheSwitchOff() {
        Parallel.setThreads(4);
        boolean was = KernelSwitches.readAhead(false);
        try {
            AtomicLong reads = new AtomicLong();
            Parallel.readAheadFor(new Parallel.NextCall(64, Parallel.MIN_WORK_PER_THREAD, item -> reads.incrementAndGet()));
            Parallel.forRange(1, 1, (from, to) -> sleep(20));
            assertEquals(0, reads.get());
        } finally {
            KernelSwitches.readAhead(was);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
