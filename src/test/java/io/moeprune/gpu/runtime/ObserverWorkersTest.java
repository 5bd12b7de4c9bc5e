package io.moeprune.gpu.runtime;

import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GPU pass's observer workers: lanes in order, one call at a time per sequence, bounded, failures rethrown. */
class ObserverWorkersTest {
    /** A GPU-form trace of n tokens (4 experts, top-2, hidden 8; no residual). */
    private static MoeTrace trace(int layer, int n) {
        return new MoeTrace(layer, new int[n], n, 8, 4, 2, null, new float[n * 4], new int[n * 2], new float[n * 2],
                null, null, null, null, new float[n * 2], new float[n]);
    }

    /** Records its calls; fails the test's assertion later if two ever overlap or one ran on the given thread. */
    private static final class Recording implements MoeObserver {
        final List<Integer> layers = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger running = new AtomicInteger();
        volatile boolean overlapped, onCaller;
        final Thread caller = Thread.currentThread();

        @Override
        public void onMoeBlock(MoeTrace t) {
            if (running.incrementAndGet() > 1) overlapped = true;
            if (Thread.currentThread() == caller) onCaller = true;
            Thread.onSpinWait();
            layers.add(t.layer());
            running.decrementAndGet();
        }

        @Override
        public boolean runsOffThread() {
            return true;
        }
    }

    @Test
    void eachSequenceSeesItsLayersInOrderOffTheCallersThread() {
        List<Recording> seen = new ArrayList<>();
        for (int s = 0; s < 5; s++) seen.add(new Recording());
        try (ObserverWorkers w = new ObserverWorkers(1L << 20, 3)) {
            for (int layer = 0; layer < 40; layer++) {
                for (int s = 0; s < seen.size(); s++) w.hand(s, seen.get(s), trace(layer, 3 + s));
            }
            w.finish();
            for (Recording r : seen) {
                assertEquals(40, r.layers.size(), "every trace observed by finish()");
                for (int l = 0; l < 40; l++) assertEquals(l, r.layers.get(l));
                assertTrue(!r.overlapped && !r.onCaller, "one call at a time, on a worker");
            }
        }
    }

    @Test
    void anObserverThatStaysOnTheThreadRunsAtOnce() {
        List<Thread> threads = new ArrayList<>();
        try (ObserverWorkers w = new ObserverWorkers(1L << 20, 2)) {
            w.hand(0, t -> threads.add(Thread.currentThread()), trace(0, 2));
            assertEquals(List.of(Thread.currentThread()), threads);
        }
    }

    @Test
    void withoutWorkersEveryObserverRunsOnTheCaller() {
        Recording r = new Recording();
        try (ObserverWorkers w = new ObserverWorkers(1L << 20, 0)) {
            w.hand(0, r, trace(0, 2));
            assertEquals(List.of(0), r.layers, "observed before hand returns");
            assertTrue(r.onCaller);
        }
    }

    @Test
    void theFirstFailureIsRethrownAndLaterTracesAreDropped() {
        IllegalArgumentException boom = new IllegalArgumentException("bad trace");
        AtomicInteger after = new AtomicInteger();
        MoeObserver failing = new MoeObserver() {
            @Override
            public void onMoeBlock(MoeTrace t) {
                if (t.layer() == 2) throw boom;
                if (t.layer() > 2) after.incrementAndGet();
            }

            @Override
            public boolean runsOffThread() {
                return true;
            }
        };
        try (ObserverWorkers w = new ObserverWorkers(1L << 20, 2)) {
            RuntimeException thrown = assertThrows(RuntimeException.class, () -> {
                for (int layer = 0; layer < 6; layer++) w.hand(0, failing, trace(layer, 4));
                w.finish();
            });
            assertSame(boom, thrown, "the observer's own exception");
            assertEquals(0, after.get(), "nothing of the failed sequence observed after its failure");
        }
    }

    @Test
    void handingOverWaitsWhileTheBoundIsTaken() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        MoeObserver slow = new MoeObserver() {
            @Override
            public void onMoeBlock(MoeTrace t) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public boolean runsOffThread() {
                return true;
            }
        };
        MoeTrace big = trace(0, 1024);   // 1024 · (1 + 4 + 2 + 2 + 2 + 1) · 4 B = 48 KiB
        assertEquals(48 << 10, ObserverWorkers.bytes(big));
        try (ObserverWorkers w = new ObserverWorkers(64 << 10, 2)) {
            w.hand(0, slow, big);   // fits: 48 of 64 KiB
            Thread second = Thread.ofPlatform().start(() -> w.hand(1, slow, trace(1, 1024)));
            second.join(300);
            assertTrue(second.isAlive(), "the second trace waits for room");
            assertNotEquals(Thread.State.TERMINATED, second.getState());
            release.countDown();
            second.join(TimeUnit.SECONDS.toMillis(10));
            assertTrue(!second.isAlive(), "handed over once the first was observed");
            w.finish();
        }
    }
}
