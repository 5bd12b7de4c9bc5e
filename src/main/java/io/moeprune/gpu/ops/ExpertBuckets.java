package io.moeprune.gpu.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * How the batched path of {@code CudaOps.groupedLinear} covers a layer's experts: cuBLAS's batched product takes one
 * row count for all its problems, so each expert's rows are rounded up to a multiple of {@link #granularity} and the
 * experts with the same rounded count form a bucket, run as one batched call. The granularity is the coarsest (fewest
 * buckets, so fewest launches) whose padding stays within the bound on the useful rows; experts with no rows are in
 * no bucket.
 *
 * @param granularity the row multiple the counts are rounded up to
 * @param buckets     by padded row count, ascending
 */
public record ExpertBuckets(int granularity, List<Bucket> buckets) {
    /** The granularities tried, coarsest first; the last one is taken when none keeps the padding within bound. */
    static final int[] GRANULARITIES = {256, 128, 64, 32, 16, 8};
    /** The padding allowed, as a share of the useful rows (wasted products, and rows the copy-out reads). */
    public static final double MAX_WASTE = 0.12;

    /** Experts {@code problems} (indices, ascending), each with at most {@code rows} rows, run as one batched call. */
    public record Bucket(int rows, int[] problems) {
    }

    public ExpertBuckets {
        buckets = List.copyOf(buckets);
    }

    /** The buckets of {@code rows} (one count per expert) with padding at most {@link #MAX_WASTE} where it can be. */
    public static ExpertBuckets of(int[] rows) {
        return of(rows, MAX_WASTE);
    }

    static ExpertBuckets of(int[] rows, double maxWaste) {
        long useful = 0;
        for (int r : rows) {
            if (r < 0) throw new IllegalArgumentException("an expert with " + r + " rows");
            useful += r;
        }
        int chosen = GRANULARITIES[GRANULARITIES.length - 1];
        for (int g : GRANULARITIES) {
            if (padding(rows, g) <= maxWaste * useful) {
                chosen = g;
                break;
            }
        }
        TreeMap<Integer, List<Integer>> byRows = new TreeMap<>();
        for (int p = 0; p < rows.length; p++) {
            if (rows[p] > 0) byRows.computeIfAbsent(roundUp(rows[p], chosen), r -> new ArrayList<>()).add(p);
        }
        List<Bucket> buckets = new ArrayList<>();
        byRows.forEach((r, ps) -> buckets.add(new Bucket(r, ps.stream().mapToInt(Integer::intValue).toArray())));
        return new ExpertBuckets(chosen, buckets);
    }

    /** Rows computed and thrown away when every count is rounded up to a multiple of {@code granularity}. */
    static long padding(int[] rows, int granularity) {
        long wasted = 0;
        for (int r : rows) if (r > 0) wasted += roundUp(r, granularity) - r;
        return wasted;
    }

    private static int roundUp(int rows, int granularity) {
        return (rows + granularity - 1) / granularity * granularity;
    }

    /** The rows the batched calls compute (useful and padding). */
    public long paddedRows() {
        long n = 0;
        for (Bucket b : buckets) n += (long) b.rows() * b.problems().length;
        return n;
    }

    /** The number of batched calls. */
    public int launches() {
        return buckets.size();
    }
}
