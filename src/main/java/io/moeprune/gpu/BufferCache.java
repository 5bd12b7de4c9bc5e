package io.moeprune.gpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;

/**
 * A caching allocator's bookkeeping (device buffers of {@link GpuDevice} and {@code HostOps}, pinned host buffers):
 * a freed buffer is kept, and a later request it can serve (its size up to {@link #SLACK_DIVISOR 1/8} larger than
 * asked) gets it back, so a second run of one process allocates nothing new (cudaMalloc, cudaHostAlloc and cudaFree
 * synchronise the device and cost milliseconds each).
 *
 * <p>The bound: cached bytes count as allocated. A request that would pass {@code limit} with them first releases
 * cached buffers (largest first) until it fits; it fails only where in-use bytes alone leave no room. {@link #inUse}
 * excludes the cache: it is what a run may plan around (whatever is cached is released when it needs the room).
 * Cached bytes beyond {@code cacheCap} are released as they come. Not thread-safe: the owner synchronises.
 */
public final class BufferCache {
    /** A cached buffer serves requests down to (its size − its size / 8): at most 1/8 of it unused. */
    static final long SLACK_DIVISOR = 8;

    private final LongUnaryOperator allocate;
    private final LongConsumer release;
    private final long limit;
    private final long cacheCap;
    private final Map<Long, Long> live = new HashMap<>();
    private final TreeMap<Long, ArrayDeque<Long>> cached = new TreeMap<>();
    private long inUse, cachedBytes, peak, allocations;

    /**
     * @param allocate new memory of the given bytes → its address (cudaMalloc, cudaHostAlloc)
     * @param release  frees an address {@code allocate} gave
     * @param limit    the bound on in-use and cached bytes together (Long.MAX_VALUE: none)
     * @param cacheCap the most cached bytes kept
     */
    public BufferCache(LongUnaryOperator allocate, LongConsumer release, long limit, long cacheCap) {
        this.allocate = allocate;
        this.release = release;
        this.limit = limit;
        this.cacheCap = cacheCap;
    }

    /**
     * The address of {@code bytes} (already rounded by the owner): a cached buffer that serves them, or new memory;
     * null when in-use bytes leave no room under the limit (the owner names what did not fit).
     */
    public Long take(long bytes) {
        Map.Entry<Long, ArrayDeque<Long>> fit = cached.ceilingEntry(bytes);
        if (fit != null && fit.getKey() - fit.getKey() / SLACK_DIVISOR <= bytes) {
            long address = fit.getValue().pop();
            if (fit.getValue().isEmpty()) cached.remove(fit.getKey());
            cachedBytes -= fit.getKey();
            return hold(address, fit.getKey());
        }
        while (inUse + cachedBytes + bytes > limit && cachedBytes > 0) releaseOne(cached.lastKey());
        if (inUse + bytes > limit) return null;
        long address = allocate.applyAsLong(bytes);
        allocations++;
        return hold(address, bytes);
    }

    private Long hold(long address, long size) {
        live.put(address, size);
        inUse += size;
        peak = Math.max(peak, inUse);
        return address;
    }

    /** Whether {@link #take} would serve {@code bytes} from the cache (its memory was in use before). */
    public boolean cachedFits(long bytes) {
        Long key = cached.ceilingKey(bytes);
        return key != null && key - key / SLACK_DIVISOR <= bytes;
    }

    /** Returns a taken address to the cache (released at once where the cache would pass its cap). */
    public void give(long address) {
        Long size = live.remove(address);
        if (size == null) throw new IllegalStateException("not allocated here or freed twice: " + address);
        inUse -= size;
        cached.computeIfAbsent(size, s -> new ArrayDeque<>()).push(address);
        cachedBytes += size;
        while (cachedBytes > cacheCap) releaseOne(cached.lastKey());
    }

    private void releaseOne(long size) {
        ArrayDeque<Long> of = cached.get(size);
        long address = of.pop();
        if (of.isEmpty()) cached.remove(size);
        cachedBytes -= size;
        release.accept(address);
    }

    /** Releases every cached buffer (the ones in use stay). */
    public void trim() {
        while (!cached.isEmpty()) releaseOne(cached.lastKey());
    }

    /** Releases everything, cached and in use (the owner closes). */
    public void releaseAll() {
        trim();
        for (long address : live.keySet()) release.accept(address);
        live.clear();
        inUse = 0;
    }

    /** Bytes taken and not given back (the cache excluded). */
    public long inUse() {
        return inUse;
    }

    /** Bytes kept for reuse. */
    public long cachedBytes() {
        return cachedBytes;
    }

    /** The most bytes in use at once. */
    public long peak() {
        return peak;
    }

    /** How many times new memory was allocated (a run served from the cache adds none). */
    public long allocations() {
        return allocations;
    }
}
