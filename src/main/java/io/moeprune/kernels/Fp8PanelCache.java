package io.moeprune.kernels;

import io.moeprune.io.AnonymousMemory;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

/**
 * FP8 weights dequantised to BF16 once per scope instead of once per call (issue 20 item 3). A layer-major pass runs
 * its sequences one by one through a layer, and each sequence's batched products dequantised every FP8 expert it routed
 * to again ({@link QuantPanels}): DeepSeek-V3's 256 experts of a layer eight times for eight sequences, the
 * dequantisation dominating the product at ~64 rows an expert. Within a scope ({@link #open}, closed when the layer is
 * done) the first call's panels are kept, rows of 16 at a time, in off-heap memory up to a budget, and later calls
 * multiply those. Same floats: the rows are dequantised by the same code, and the products still go panel by panel
 * through {@link QuantPanels#multiply}; only where the panel's bytes come from changes.
 *
 * <p>One scope at a time per process (a second {@link #open} gets an inactive scope); matrices beyond the budget are
 * dequantised per call as without a scope. The scope must be closed only when no product is running (its memory is
 * freed then).
 */
public final class Fp8PanelCache implements AutoCloseable {
    private static final Fp8PanelCache INACTIVE = new Fp8PanelCache(0, false);
    private static volatile Fp8PanelCache current;
    /** The most bytes any closed scope of this process kept (what a benchmark reports). */
    private static final AtomicLong MOST_KEPT = new AtomicLong();

    /** One FP8 matrix: its BF16 copy and which 16-row tiles of it are filled. */
    private record Entry(MemorySegment bf16, AtomicIntegerArray filled) {
    }

    /** A matrix by where its bytes are and its scales (the same mapped tensor gives the same key). */
    private record Key(long address, long bytes, int cols, float[] scales) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.address == address && k.bytes == bytes && k.cols == cols
                    && k.scales == scales;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(address) * 31 + Long.hashCode(bytes);
        }
    }

    private final boolean active;
    /** Where the kept panels go: anonymous pages reserved for the whole budget (zeroed as the fillers first touch
     * them), or, where those are unavailable, an arena (which zeroes each block as it allocates it). */
    private final MemorySegment region;
    private final Arena arena;
    private long used;
    private final ConcurrentHashMap<Key, Entry> entries = new ConcurrentHashMap<>();
    private final AtomicLong left;
    private final AtomicLong filledBytes = new AtomicLong();

    private Fp8PanelCache(long budget, boolean active) {
        this.active = active;
        this.region = active ? AnonymousMemory.reserve(budget) : null;
        this.arena = active && region == null ? Arena.ofShared() : null;
        this.left = new AtomicLong(budget);
    }

    /**
     * Opens a scope that keeps up to {@code budgetBytes} of BF16 panels (0: none); inactive if one is open already or
     * {@code -Dmoeprune.fp8PanelCache=false}.
     */
    public static synchronized Fp8PanelCache open(long budgetBytes) {
        if (current != null || budgetBytes <= 0 || "false".equals(System.getProperty("moeprune.fp8PanelCache"))) {
            return INACTIVE;
        }
        Fp8PanelCache c = new Fp8PanelCache(budgetBytes, true);
        current = c;
        return c;
    }

    /** BF16 bytes dequantised into this scope so far. */
    public long filledBytes() {
        return filledBytes.get();
    }

    /** The most BF16 bytes a scope of this process kept, over the scopes closed so far. */
    public static long mostKeptBytes() {
        return MOST_KEPT.get();
    }

    @Override
    public void close() {
        if (!active) return;
        MOST_KEPT.accumulateAndGet(filledBytes.get(), Math::max);
        synchronized (Fp8PanelCache.class) {
            if (current == this) current = null;
        }
        entries.clear();
        if (region != null) AnonymousMemory.release(region);
        else arena.close();
    }

    /**
     * Rows [r0, r1) of FP8 weights as a BF16 panel from the open scope (filled now where not yet), or null without a
     * scope, for a matrix over the budget, or rows not starting on a whole tile.
     */
    static Weights panel(Weights w, int r0, int r1) {
        Fp8PanelCache c = current;
        if (c == null || r0 % AmxBf16.TILE != 0 || !w.data().isNative()) return null;
        Entry e = c.entry(w);
        if (e == null) return null;
        int cols = w.cols();
        for (int t = r0 / AmxBf16.TILE; t * AmxBf16.TILE < r1; t++) {
            if (e.filled.get(t) != 0) continue;
            // Two threads may fill the same tile at once: both write the same bytes.
            int from = t * AmxBf16.TILE, to = Math.min(w.rows(), from + AmxBf16.TILE);
            Weights rows = QuantPanels.fp8(w, from, to);
            MemorySegment.copy(rows.data(), 0, e.bf16, 2L * from * cols, 2L * (to - from) * cols);
            e.filled.set(t, 1);
            c.filledBytes.addAndGet(2L * (to - from) * cols);
        }
        return new Weights(e.bf16.asSlice(2L * r0 * cols, 2L * (r1 - r0) * cols), DType.BF16, r1 - r0, cols);
    }

    private Entry entry(Weights w) {
        Key key = new Key(w.data().address(), w.data().byteSize(), w.cols(), w.blockScales());
        Entry e = entries.get(key);
        if (e != null) return e;
        long bytes = 2L * w.rows() * w.cols();
        synchronized (this) {
            e = entries.get(key);
            if (e != null) return e;
            long aligned = (bytes + 4095) & ~4095L;
            if (left.get() < aligned) return null;
            left.addAndGet(-aligned);
            MemorySegment at;
            if (region != null) {
                at = region.asSlice(used, bytes);
                used += aligned;
            } else {
                at = arena.allocate(bytes, 64);
            }
            e = new Entry(at, new AtomicIntegerArray((w.rows() + AmxBf16.TILE - 1) / AmxBf16.TILE));
            entries.put(key, e);
            return e;
        }
    }
}
