package io.moeprune.safetensors;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The order of one shard's tensors in the data area, and where the data area starts modulo a page, chosen so that
 * large tensors copied from a file land at the same offset within a page as in their source.
 *
 * <p>Why: the kernel copies file to file (copy_file_range, i.e. splice through the page cache) a quarter slower when
 * the source and target offsets sit at different places within a page than when they agree (each page of the
 * source then straddles two target pages), and safetensors headers have arbitrary lengths, so a plain layout almost
 * never agrees. The format forbids holes between tensors, so agreement is bought with the two freedoms it leaves:
 * the order of tensors in the data area is free, and the header may be padded with spaces.
 *
 * <p>How: large file-backed tensors ("anchors") keep their given order (the caller's source order, which keeps the
 * input read sequentially and runs of adjacent tensors adjacent); the data area's start is chosen to make the first
 * anchor agree; before each later anchor that would disagree, small tensors (any tensor whose size is a multiple of
 * 8) are inserted as filler when some of them add up to the missing amount modulo a page. Every tensor whose size is
 * a multiple of 8 then starts at a multiple of 8; the others come last, widest element first, so every tensor still
 * starts at a multiple of its element width, as in the reference implementation's layout.
 */
final class ShardLayout {
    /** Page size of the page cache the copies go through. */
    static final int PAGE = 4096;
    /** Smaller file-backed tensors are not worth aligning: they serve as filler. */
    static final long MIN_ANCHOR_BYTES = 64 * 1024;

    /**
     * One tensor: its element width, its size, and the file offset its bytes are copied from (-1 when they are not
     * copied from a file, e.g. made in memory).
     */
    record Item(int width, long size, long sourceOffset) {
    }

    /**
     * The tensors' order (indices into the input list) and the residue modulo {@link #PAGE} at which the data area
     * should start (a multiple of 8; the header is padded with spaces to get there).
     */
    record Plan(int[] order, int dataStartResidue) {
    }

    private ShardLayout() {
    }

    static Plan plan(List<Item> items) {
        int n = items.size();
        List<Integer> anchors = new ArrayList<>();
        List<Integer> fillers = new ArrayList<>();
        List<Integer> rest = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Item it = items.get(i);
            if (it.size() % 8 != 0) rest.add(i);
            else if (it.sourceOffset() >= 0 && it.size() >= MIN_ANCHOR_BYTES) anchors.add(i);
            else fillers.add(i);
        }
        boolean[] used = new boolean[n];
        boolean[] unreachable = new boolean[PAGE / 8];   // stays true: the pool of unused fillers only shrinks
        int[] order = new int[n];
        int placed = 0;
        long p = 0;            // position in the data area; stays a multiple of 8 until the tail
        int start = -1;        // residue of the data area's start, fixed by the first anchor that can agree
        for (int a : anchors) {
            Item it = items.get(a);
            int want = (int) (it.sourceOffset() % PAGE);
            if (want % 8 == 0) {
                if (start < 0) start = (int) Math.floorMod(want - p, (long) PAGE);
                int missing = (int) Math.floorMod(want - start - p, (long) PAGE);
                if (missing != 0 && !unreachable[missing / 8]) {
                    List<Integer> chosen = fill(items, fillers, used, missing);
                    if (chosen.isEmpty()) unreachable[missing / 8] = true;
                    for (int f : chosen) {
                        used[f] = true;
                        order[placed++] = f;
                        p += items.get(f).size();
                    }
                }
            }
            order[placed++] = a;
            used[a] = true;
            p += it.size();
        }
        for (int f : fillers) if (!used[f]) order[placed++] = f;
        // Sizes not a multiple of 8 last, widest first: each then starts at a multiple of its width (widths are
        // powers of two and every earlier size is a multiple of the current width).
        rest.sort(Comparator.comparingInt((Integer i) -> -items.get(i).width()));
        for (int r : rest) order[placed++] = r;
        return new Plan(order, Math.max(start, 0));
    }

    /**
     * Unused fillers whose sizes add up to {@code missing} modulo {@link #PAGE} (in their list order), or none: a
     * subset sum over the 512 residues a multiple of 8 can have, keeping the first way each residue is reached.
     */
    private static List<Integer> fill(List<Item> items, List<Integer> fillers, boolean[] used, int missing) {
        int slots = PAGE / 8, target = missing / 8;
        int[] via = new int[slots];   // filler index that first reached the residue, -1 unreached; from = residue before
        int[] from = new int[slots];
        Arrays.fill(via, -1);
        boolean[] reached = new boolean[slots];
        reached[0] = true;
        for (int f : fillers) {
            if (used[f]) continue;
            int step = (int) ((items.get(f).size() / 8) % slots);
            if (step == 0) continue;
            boolean[] before = reached.clone();
            for (int r = 0; r < slots; r++) {
                int to = (r + step) % slots;
                if (before[r] && !reached[to]) {
                    reached[to] = true;
                    via[to] = f;
                    from[to] = r;
                }
            }
            if (reached[target]) break;
        }
        if (!reached[target]) return List.of();
        List<Integer> chosen = new ArrayList<>();
        for (int r = target; r != 0; r = from[r]) chosen.add(via[r]);
        return chosen.reversed();
    }
}
