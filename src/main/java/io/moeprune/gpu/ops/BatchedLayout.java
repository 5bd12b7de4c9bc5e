package io.moeprune.gpu.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Where each padded problem of the batched experts' products reads and writes ({@link ExpertBuckets}). A problem of
 * r rows run as P &gt; r rows reads P − r rows beyond its own input and writes P − r rows beyond its own output:
 * <ul>
 *   <li>Inputs: a padded row's product is thrown away, so it may read any valid memory. When the problems' inputs
 *       lie back to back (the pass's gathered rows in expert order), the extra rows are the next experts' inputs;
 *       a problem whose P rows would run past the last input row reads from P rows before that end instead
 *       (its live rows then start {@code lead} rows into its output). Nothing is copied on the way in.</li>
 *   <li>Outputs: the extra rows would land on the next expert's rows, which another problem of the same call writes
 *       at the same time; so a padded problem writes into an F32 scratch (P rows a problem, one after another) and
 *       one kernel copies the live rows out ({@link #copies}). A problem whose count is exactly P writes its own
 *       rows directly.</li>
 * </ul>
 * Problems that cannot be placed (inputs not back to back, or fewer input rows in all than P) are {@link #alone}:
 * the caller runs them one product each.
 *
 * @param calls       the batched calls, one a bucket that has problems placed
 * @param copies      the live rows to copy from the scratch into the problems' outputs
 * @param alone       problems run one product each
 * @param scratchRows the scratch's rows (F32, {@code out} wide)
 */
public record BatchedLayout(List<Call> calls, List<Copy> copies, int[] alone, long scratchRows) {

    /**
     * One problem in a batched call: it reads P rows from {@code x} and writes P rows to its own output {@code y}
     * (when {@code scratchRow} is −1) or to the scratch from row {@code scratchRow}.
     */
    public record Placement(int problem, long x, long y, long scratchRow) {
        public boolean direct() {
            return scratchRow < 0;
        }
    }

    /** One batched call: {@code rows} rows for each of its problems. */
    public record Call(int rows, List<Placement> problems) {
        public Call {
            problems = List.copyOf(problems);
        }
    }

    /** Rows [scratchRow, scratchRow + rows) of the scratch go to the problem's output {@code y}. */
    public record Copy(int problem, long scratchRow, int rows, long y) {
    }

    public BatchedLayout {
        calls = List.copyOf(calls);
        copies = List.copyOf(copies);
    }

    /**
     * The placements of {@code plan}'s problems: rows[p] rows each, inputs {@code x[p]} (BF16 rows of {@code in})
     * and outputs {@code y[p]} (F32 rows of {@code out}) as device addresses.
     */
    public static BatchedLayout of(ExpertBuckets plan, int[] rows, int in, long[] x, long[] y) {
        long rowBytes = 2L * in;
        long[] span = backToBack(rows, x, rowBytes);
        List<Call> calls = new ArrayList<>();
        List<Copy> copies = new ArrayList<>();
        List<Integer> alone = new ArrayList<>();
        long scratch = 0;
        for (ExpertBuckets.Bucket b : plan.buckets()) {
            List<Placement> placed = new ArrayList<>();
            for (int p : b.problems()) {
                int padded = b.rows();
                if (rows[p] == padded) {
                    placed.add(new Placement(p, x[p], y[p], -1));
                    continue;
                }
                if (span == null) {
                    alone.add(p);
                    continue;
                }
                long from = x[p];
                if (from + padded * rowBytes > span[1]) from = span[1] - padded * rowBytes;
                if (from < span[0]) {
                    alone.add(p);
                    continue;
                }
                long lead = (x[p] - from) / rowBytes;
                placed.add(new Placement(p, from, y[p], scratch));
                copies.add(new Copy(p, scratch + lead, rows[p], y[p]));
                scratch += padded;
            }
            if (!placed.isEmpty()) calls.add(new Call(b.rows(), placed));
        }
        return new BatchedLayout(calls, copies, alone.stream().mapToInt(Integer::intValue).toArray(), scratch);
    }

    /** [first, end) of the inputs when the non-empty problems' rows lie back to back in some order, else null. */
    private static long[] backToBack(int[] rows, long[] x, long rowBytes) {
        Integer[] live = java.util.stream.IntStream.range(0, rows.length).filter(p -> rows[p] > 0).boxed()
                .toArray(Integer[]::new);
        if (live.length == 0) return null;
        Arrays.sort(live, Comparator.comparingLong(p -> x[p]));
        long end = x[live[0]];
        for (int p : live) {
            if (x[p] != end) return null;
            end += rows[p] * rowBytes;
        }
        return new long[]{x[live[0]], end};
    }

    /** The problems the batched calls cover. */
    public int placed() {
        int n = 0;
        for (Call c : calls) n += c.problems().size();
        return n;
    }
}
