package io.moeprune.runtime;

import io.moeprune.io.PageAdvice;
import io.moeprune.kernels.Parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One MoE layer's routed experts read from copies in memory of their own instead of the mapped checkpoint (serve's
 * resident experts): {@link #bringIn} copies an expert's weights into a page-aligned off-heap block and gives the
 * mapped pages back ({@link PageAdvice#dropFromProcess}), {@link #evict} frees the block. Only resident experts may
 * be routed to: reading another is an error, never a read of the mapped file. The copies hold the same bytes, so the
 * products are those of the mapped weights to the bit.
 *
 * <p>Not thread-safe: bringing in and evicting happen between forward passes, on the thread that runs them.
 */
public final class ResidentExperts implements ExpertWeights {
    /** Alignment of each matrix inside an expert's block: a cache line, like the kernels' vector loads want. */
    private static final long PART_ALIGN = 64;
    private static final long PAGE = 4096;
    private final int layer;
    private final ExpertWeights mapped;
    /** Whether a range is the checkpoint's mapped file (whose pages a copy gives back), not memory of its own. */
    private final java.util.function.Predicate<MemorySegment> fileMapped;
    private final Arena[] arenas;
    private final List<List<MemorySegment>> copies;
    private final long[] bytes;
    private ExpertWeights view;

    ResidentExperts(int layer, ExpertWeights mapped, java.util.function.Predicate<MemorySegment> fileMapped) {
        this.layer = layer;
        this.mapped = mapped;
        this.fileMapped = fileMapped;
        int n = mapped.count();
        this.arenas = new Arena[n];
        this.copies = new ArrayList<>(java.util.Collections.nCopies(n, (List<MemorySegment>) null));
        this.bytes = new long[n];
        for (int e = 0; e < n; e++) {
            long b = 0;
            for (MemorySegment s : mapped.expertMemory(e)) b = align(b) + s.byteSize();
            bytes[e] = align(b);
        }
        this.view = mapped;
    }

    /** The layer's experts as the checkpoint maps them (what {@link Model#mappedExperts} puts back). */
    ExpertWeights mapped() {
        return mapped;
    }

    public int layer() {
        return layer;
    }

    /** Bytes expert {@code e} takes when resident (its matrices, each aligned to a cache line). */
    public long residentBytes(int e) {
        return bytes[e];
    }

    public boolean isResident(int e) {
        return arenas[e] != null;
    }

    /**
     * Copies the experts {@code ids} not resident yet out of the mapped checkpoint and gives their mapped pages back;
     * returns the bytes now held for them.
     */
    public long bringIn(int[] ids) {
        long added = 0;
        for (int e : ids) {
            if (arenas[e] != null) continue;
            Arena arena = Arena.ofShared();
            MemorySegment block = arena.allocate(bytes[e], PAGE);
            List<MemorySegment> parts = new ArrayList<>();
            long at = 0;
            for (MemorySegment src : mapped.expertMemory(e)) {
                at = align(at);
                MemorySegment dst = block.asSlice(at, src.byteSize());
                dst.copyFrom(src);
                if (fileMapped.test(src)) PageAdvice.dropFromProcess(src);
                parts.add(dst);
                at += src.byteSize();
            }
            arenas[e] = arena;
            copies.set(e, List.copyOf(parts));
            added += bytes[e];
        }
        if (added > 0) view = mapped.readingFrom(copies);
        return added;
    }

    /** Frees the copies of the experts {@code ids} that are resident; returns the bytes freed. */
    public long evict(int[] ids) {
        long freed = 0;
        for (int e : ids) {
            if (arenas[e] == null) continue;
            copies.set(e, null);
            freed += bytes[e];
        }
        if (freed == 0) return 0;
        view = mapped.readingFrom(copies);
        for (int e : ids) {
            if (arenas[e] == null) continue;
            arenas[e].close();
            arenas[e] = null;
        }
        return freed;
    }

    /** Frees every copy. */
    void evictAll() {
        int[] all = new int[arenas.length];
        Arrays.setAll(all, e -> e);
        evict(all);
    }

    @Override
    public int count() {
        return mapped.count();
    }

    @Override
    public SwiGlu expert(int e) {
        requireResident(e);
        return view.expert(e);
    }

    @Override
    public long expertBytes() {
        return mapped.expertBytes();
    }

    @Override
    public List<MemorySegment> expertMemory(int e) {
        requireResident(e);
        return view.expertMemory(e);
    }

    /** Not offered: these experts already read from copies of their own. */
    @Override
    public ExpertWeights readingFrom(List<List<MemorySegment>> memory) {
        throw new UnsupportedOperationException("resident experts are not moved again");
    }

    @Override
    public void run(float[] xn, int n, int k, int hidden, int[] start, int[] order, float[] weights, float[] routed,
                    float[] expertOut, Parallel.NextCall after) {
        for (int e = 0; e < arenas.length; e++) if (start[e + 1] > start[e]) requireResident(e);
        view.run(xn, n, k, hidden, start, order, weights, routed, expertOut, after);
    }

    private void requireResident(int e) {
        if (arenas[e] == null) {
            throw new IllegalStateException("expert " + e + " of layer " + layer + " is not resident (routed outside "
                    + "the experts brought in)");
        }
    }

    private static long align(long at) {
        return (at + PART_ALIGN - 1) / PART_ALIGN * PART_ALIGN;
    }
}
