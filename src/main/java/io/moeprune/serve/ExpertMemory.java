package io.moeprune.serve;

import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.ResidentExperts;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The resident experts of a server ({@code serve --expert-memory}): the experts a pattern (or mask) keeps are copied
 * out of the mapped checkpoint when a request first needs them ({@link ResidentExperts}) and stay until room is
 * needed, when the least recently used ones that no request in flight uses are evicted. A request pins its experts
 * from admission to its end. Experts no admitted request keeps are never read.
 *
 * <p>Used by the scheduler thread only (between forward passes); {@link #stats} may be read from any thread.
 */
final class ExpertMemory implements AutoCloseable {
    private final Model model;
    private final SortedMap<Integer, ResidentExperts> layers;
    private final long budget;
    /** Resident experts, least recently used first: key layer·2³² + expert. */
    private final LinkedHashMap<Long, Resident> lru = new LinkedHashMap<>(64, 0.75f, true);
    private final Map<ExpertMask, long[]> needs = new IdentityHashMap<>();
    private volatile Stats stats;

    /**
     * What /metrics shows: the budget, resident bytes and experts, experts brought in and evicted, the admissions that
     * brought experts in (a pattern's bring-in) and the nanoseconds they took (copies and evictions).
     */
    record Stats(long budget, long residentBytes, int residentExperts, long broughtIn, long evicted, long bringIns,
                 long bringInNanos) {
    }

    private static final class Resident {
        final long bytes;
        int pins;

        Resident(long bytes) {
            this.bytes = bytes;
        }
    }

    /**
     * Resident experts for the MoE layers {@code residentLayers} of the model (the others stay mapped), at most
     * {@code budget} bytes of them.
     */
    ExpertMemory(Model model, Collection<Integer> residentLayers, long budget) {
        this.model = model;
        this.layers = model.residentExperts(residentLayers);
        this.budget = budget;
        this.stats = new Stats(budget, 0, 0, 0, 0, 0, 0);
    }

    /** Bytes the experts {@code mask} keeps in the resident layers take when resident. */
    long bytesOf(ExpertMask mask) {
        long sum = 0;
        for (long key : keys(mask)) sum += layers.get(layerOf(key)).residentBytes(expertOf(key));
        return sum;
    }

    /** Bytes of the union of the experts the masks keep in the resident layers. */
    long bytesOfAll(Collection<ExpertMask> masks) {
        Set<Long> all = new HashSet<>();
        for (ExpertMask m : masks) for (long key : keys(m)) all.add(key);
        long sum = 0;
        for (long key : all) sum += layers.get(layerOf(key)).residentBytes(expertOf(key));
        return sum;
    }

    /** Bytes every expert of the resident layers takes (the full model's routed experts there). */
    long fullBytes() {
        long sum = 0;
        for (ResidentExperts r : layers.values()) for (int e = 0; e < r.count(); e++) sum += r.residentBytes(e);
        return sum;
    }

    long budget() {
        return budget;
    }

    Stats stats() {
        return stats;
    }

    /**
     * Makes the experts {@code mask} keeps resident and pins them for a request: brings in the missing ones, evicting
     * the least recently used unpinned ones others keep when the budget needs it. False (nothing changed) when the
     * experts pinned by requests in flight leave no room: the request waits until some end.
     */
    boolean acquire(ExpertMask mask) {
        long[] keys = keys(mask);
        long missing = 0, resident = stats.residentBytes();
        List<Long> wanted = new ArrayList<>();
        for (long key : keys) {
            if (!lru.containsKey(key)) {
                missing += layers.get(layerOf(key)).residentBytes(expertOf(key));
                wanted.add(key);
            }
        }
        long over = resident + missing - budget;
        List<Long> evict = new ArrayList<>();
        if (over > 0) {
            Set<Long> keep = new HashSet<>();
            for (long key : keys) keep.add(key);
            long freed = 0;
            for (Map.Entry<Long, Resident> e : lru.entrySet()) {  // least recently used first
                if (freed >= over) break;
                if (e.getValue().pins > 0 || keep.contains(e.getKey())) continue;
                evict.add(e.getKey());
                freed += e.getValue().bytes;
            }
            if (freed < over) return false;
        }
        long t0 = System.nanoTime();
        long evictedBytes = 0;
        for (Map.Entry<Integer, int[]> byLayer : byLayer(evict).entrySet()) {
            evictedBytes += layers.get(byLayer.getKey()).evict(byLayer.getValue());
        }
        evict.forEach(lru::remove);
        long added = 0;
        for (Map.Entry<Integer, int[]> byLayer : byLayer(wanted).entrySet()) {
            added += layers.get(byLayer.getKey()).bringIn(byLayer.getValue());
        }
        for (long key : wanted) lru.put(key, new Resident(layers.get(layerOf(key)).residentBytes(expertOf(key))));
        for (long key : keys) lru.get(key).pins++;  // also marks them most recently used
        Stats s = stats;
        stats = new Stats(budget, resident - evictedBytes + added, lru.size(), s.broughtIn() + wanted.size(),
                s.evicted() + evict.size(), s.bringIns() + (wanted.isEmpty() ? 0 : 1),
                s.bringInNanos() + (wanted.isEmpty() ? 0 : System.nanoTime() - t0));
        return true;
    }

    /** Unpins what {@link #acquire} pinned for a request that has ended. */
    void release(ExpertMask mask) {
        for (long key : keys(mask)) lru.get(key).pins--;
    }

    /** The mapped experts are read again and every copy is freed. */
    @Override
    public void close() {
        model.mappedExperts();
        lru.clear();
    }

    /** The (layer, expert) keys {@code mask} keeps in the resident layers (a layer it leaves out keeps them all). */
    private long[] keys(ExpertMask mask) {
        return needs.computeIfAbsent(mask, m -> {
            List<Long> out = new ArrayList<>();
            for (Map.Entry<Integer, ResidentExperts> l : layers.entrySet()) {
                boolean[] kept = m.kept(l.getKey());
                for (int e = 0; e < l.getValue().count(); e++) if (kept == null || kept[e]) out.add(key(l.getKey(), e));
            }
            return out.stream().mapToLong(Long::longValue).toArray();
        });
    }

    private static Map<Integer, int[]> byLayer(List<Long> keys) {
        Map<Integer, List<Integer>> m = new TreeMap<>();
        for (long key : keys) m.computeIfAbsent(layerOf(key), l -> new ArrayList<>()).add(expertOf(key));
        Map<Integer, int[]> out = new TreeMap<>();
        m.forEach((l, ids) -> out.put(l, ids.stream().mapToInt(Integer::intValue).toArray()));
        return out;
    }

    private static long key(int layer, int expert) {
        return ((long) layer << 32) | expert;
    }

    private static int layerOf(long key) {
        return (int) (key >>> 32);
    }

    private static int expertOf(long key) {
        return (int) key;
    }
}
