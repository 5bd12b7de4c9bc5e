package io.moeprune.gpu;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The caching allocator's bookkeeping: a freed buffer serves a later request of its size (or up to 1/8 smaller)
 * without new memory; in-use bytes exclude the cache; a request that would pass the bound with the cache releases
 * cached buffers first and fails only where in-use bytes leave no room; the cache's cap and {@code releaseAll}.
 */
class BufferCacheTest {
    private long next = 1 << 20;
    private final List<Long> released = new ArrayList<>();

    private BufferCache cache(long limit, long cap) {
        return new BufferCache(bytes -> {
            long a = next;
            next += bytes;
            return a;
        }, released::add, limit, cap);
    }

    @Test
    void aFreedBufferServesTheNextRequestOfAboutItsSize() {
        BufferCache c = cache(10_000, Long.MAX_VALUE);
        long a = c.take(1024), b = c.take(2048);
        assertEquals(3072, c.inUse());
        c.give(a);
        c.give(b);
        assertEquals(0, c.inUse());
        assertEquals(3072, c.cachedBytes());
        assertEquals(b, c.take(1792));   // 2048 serves down to 1792
        assertEquals(a, c.take(1024));
        assertEquals(2, c.allocations());
        assertEquals(2048 + 1024, c.inUse());
        assertEquals(0, c.cachedBytes());
        c.give(a);
        long small = c.take(512);   // 1024 would waste half: new memory
        assertTrue(small != a);
        assertEquals(3, c.allocations());
        assertEquals(3072, c.peak());   // in use at most, the cache excluded
        assertEquals(List.of(), released);
    }

    @Test
    void theBoundCountsTheCacheAndReleasesItBeforeRefusing() {
        BufferCache c = cache(4096, Long.MAX_VALUE);
        long a = c.take(2048), b = c.take(1024);
        c.give(a);
        // 1024 in use + 2048 cached + 2048 asked > 4096: the cached 2048 is released, the request gets new memory.
        long d = c.take(1536 + 512 + 256 + 256);   // 2560: not served by the cached 2048
        assertEquals(List.of(a), released);
        assertEquals(0, c.cachedBytes());
        assertEquals(1024 + 2560, c.inUse());
        assertNull(c.take(1024), "in-use bytes alone leave 512");
        c.give(b);
        c.give(d);
        c.releaseAll();
        assertEquals(List.of(a, d, b), released);
        assertEquals(0, c.inUse() + c.cachedBytes());
    }

    @Test
    void cachedBytesBeyondTheCapAreReleased() {
        BufferCache c = cache(Long.MAX_VALUE, 3000);
        long a = c.take(2048), b = c.take(2048);
        c.give(a);
        c.give(b);   // 4096 cached > 3000: one goes
        assertEquals(2048, c.cachedBytes());
        assertEquals(1, released.size());
        c.trim();
        assertEquals(0, c.cachedBytes());
        assertEquals(2, released.size());
    }
}
