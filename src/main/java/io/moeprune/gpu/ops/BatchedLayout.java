package io.moeprune.gpu.ops;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Where each padded problem of the batched experts' products reads and writes ({@link ExpertBuckets}). A problem of
 * r rows run as P &gt; r rows reads P − r rows beyond its own input and writes P − r rows beyond its own output:
 * <ul>
 *   <li>Inputs: a padded row's product is thrown away, so it may read any valid memory. When the problems' inputs
 *       lie back to back (the pass's gathered rows in expert order), the extra rows are the next experts' inputs;
 *       a problem whose P rows would run past the last input row reads from P rows before that end instead
 *       (its live rows then start that many rows into its P output rows). Nothing is copied on the way in.</li>
 *   <li>Outputs: the extra rows land on the next experts' rows. A padded problem writes its output directly when
 *       every one of those rows is written again after its call (by a later call, a larger bucket; by the
 *       copy-out; or by a product of its own at the end), or else, shifted back P − r rows, when the rows before
 *       its own all belong to later calls, or else from an early call of its bucket (one before all the buckets'
 *       own calls) when that puts it before the neighbours it pads over; otherwise (another problem of the same
 *       call would write them at the same time, or an earlier call already did) it writes into a scratch (P rows a
 *       problem, one after another) and one kernel copies the live rows out ({@link #copies}). A problem whose
 *       count is exactly P writes its own rows directly: with even rows nothing is copied.</li>
 * </ul>
 * Problems that cannot be placed (inputs not back to back, or fewer input rows in all than P) are {@link #alone}:
 * the caller runs them one product each. The order is the calls' (ascending P), then the copy-out, then the
 * products alone.
 *
 * @param calls       the batched calls in launch order: each bucket's early call, then each bucket's own
 * @param copies      the live rows to copy from the scratch into the problems' outputs
 * @param alone       problems run one product each, after the calls and the copy-out
 * @param scratchRows the scratch's rows ({@code out} wide, of the outputs' type)
 */
public record BatchedLayout(List<Call> calls, List<Copy> copies, int[] alone, long scratchRows) {

    /**
     * One problem in a batched call: it reads P rows from {@code x} and writes P rows to {@code y} (its output, or
     * the padding rows before it; when {@code scratchRow} is −1) or to the scratch from row {@code scratchRow}.
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

    /** How a problem runs. */
    private enum Kind { DIRECT, SCRATCH, ALONE }

    /**
     * The placements of {@code plan}'s problems: rows[p] rows each, inputs {@code x[p]} (BF16 rows of {@code in})
     * and outputs {@code y[p]} (F32 rows of {@code out}) as device addresses.
     */
    public static BatchedLayout of(ExpertBuckets plan, int[] rows, int in, int out, long[] x, long[] y) {
        return of(plan, rows, in, out, x, y, Long.MAX_VALUE, true);
    }

    /**
     * The same with at most {@code maxScratchRows} scratch rows (what the memory bound leaves): the padded problems
     * that would need more run alone (their rows are written after the calls, so the direct writers' padding
     * over them stays correct); without {@code earlyCalls}, one call per bucket (fewer, fuller calls, more copied).
     */
    public static BatchedLayout of(ExpertBuckets plan, int[] rows, int in, int out, long[] x, long[] y,
                                   long maxScratchRows, boolean earlyCalls) {
        return of(plan, rows, in, out, x, y, maxScratchRows, earlyCalls, ExpertOutputs.F32);
    }

    /** The same for outputs {@code y[p]} of rows of {@code out} elements of {@code outputs}' type. */
    public static BatchedLayout of(ExpertBuckets plan, int[] rows, int in, int out, long[] x, long[] y,
                                   long maxScratchRows, boolean earlyCalls, ExpertOutputs outputs) {
        long rowBytes = 2L * in, outRowBytes = (long) outputs.bytes() * out;
        int[] order = IntStream.range(0, rows.length).filter(p -> rows[p] > 0).boxed()
                .sorted(Comparator.comparingLong(p -> x[p])).mapToInt(Integer::intValue).toArray();
        boolean inputsBackToBack = backToBack(order, rows, x, rowBytes);
        boolean outputsBackToBack = inputsBackToBack && backToBack(order, rows, y, outRowBytes);
        long first = order.length == 0 ? 0 : x[order[0]];
        long end = order.length == 0 ? 0 : x[order[order.length - 1]] + rows[order[order.length - 1]] * rowBytes;
        // Launch order: an early call per bucket (problems moved ahead of all others, below), then the bucket's own.
        int buckets = plan.buckets().size();
        int[] launch = new int[rows.length], padded = new int[rows.length], bucket = new int[rows.length];
        for (int b = 0; b < buckets; b++) {
            for (int p : plan.buckets().get(b).problems()) {
                bucket[p] = b;
                launch[p] = buckets + b;
                padded[p] = plan.buckets().get(b).rows();
            }
        }
        boolean[] writtenOverBackward = new boolean[rows.length];
        // From the last input backwards: whether a padded problem may write directly depends on the ones after it
        // (its padding forward over them), or only on the calls of the ones before it (its padding backward).
        Kind[] kind = new Kind[rows.length];
        long[] from = new long[rows.length], to = new long[rows.length];
        for (int i = order.length - 1; i >= 0; i--) {
            int p = order[i];
            from[p] = x[p];
            to[p] = y[p];
            long pad = padded[p] - rows[p];
            if (pad == 0) {
                kind[p] = Kind.DIRECT;
                continue;
            }
            if (!inputsBackToBack) {
                kind[p] = Kind.ALONE;
                continue;
            }
            boolean forward = x[p] + padded[p] * rowBytes <= end, backward = x[p] - pad * rowBytes >= first;
            kind[p] = Kind.SCRATCH;
            if (forward && outputsBackToBack && overwrittenLater(i, order, rows, padded, launch, kind)) {
                kind[p] = Kind.DIRECT;
            } else if (backward && outputsBackToBack && earlierInLaterCalls(i, order, rows, pad, launch)) {
                kind[p] = Kind.DIRECT;
                from[p] = x[p] - pad * rowBytes;
                to[p] = y[p] - pad * outRowBytes;
                for (int j = i - 1, left = (int) pad; j >= 0 && left > 0; left -= rows[order[j]], j--) {
                    writtenOverBackward[order[j]] = true;   // must keep its late call: it rewrites these rows
                }
            } else if (earlyCalls && forward && outputsBackToBack && !writtenOverBackward[p]
                    && earlyOverwrittenLater(i, order, rows, padded, launch, bucket, kind)) {
                kind[p] = Kind.DIRECT;   // moved to its bucket's early call, before the neighbours it pads over
            } else if (!forward) {
                from[p] = end - padded[p] * rowBytes;   // read from the end backwards; the live rows lead
                if (from[p] < first) kind[p] = Kind.ALONE;
            }
        }
        List<Call> calls = new ArrayList<>();
        List<Copy> copies = new ArrayList<>();
        List<Integer> alone = new ArrayList<>();
        long scratch = 0;
        for (int call = 0; call < 2 * buckets; call++) {
            ExpertBuckets.Bucket b = plan.buckets().get(call % buckets);
            List<Placement> placed = new ArrayList<>();
            for (int p : b.problems()) {
                if (launch[p] != call) continue;
                switch (kind[p]) {
                    case ALONE -> alone.add(p);
                    case DIRECT -> placed.add(new Placement(p, from[p], to[p], -1));
                    case SCRATCH -> {
                        if (scratch + b.rows() > maxScratchRows) {
                            alone.add(p);
                            continue;
                        }
                        placed.add(new Placement(p, from[p], y[p], scratch));
                        copies.add(new Copy(p, scratch + (x[p] - from[p]) / rowBytes, rows[p], y[p]));
                        scratch += b.rows();
                    }
                }
            }
            if (!placed.isEmpty()) calls.add(new Call(b.rows(), placed));
        }
        alone.sort(null);
        return new BatchedLayout(calls, copies, alone.stream().mapToInt(Integer::intValue).toArray(), scratch);
    }

    /**
     * Whether the rows problem {@code order[i]} would write beyond its own all belong to problems whose rows are
     * written after its call: by a later call (a larger bucket), by the copy-out, or one product each at the end.
     * Then it writes its output directly, padding and all, and those later writes put the right rows back.
     */
    private static boolean overwrittenLater(int i, int[] order, int[] rows, int[] padded, int[] launch, Kind[] kind) {
        int p = order[i];
        long left = padded[p] - rows[p];
        for (int j = i + 1; j < order.length && left > 0; j++) {
            int q = order[j];
            if (kind[q] == Kind.DIRECT && launch[q] <= launch[p]) return false;
            left -= rows[q];
        }
        return left <= 0;
    }

    /** {@link #overwrittenLater} with problem {@code order[i]} in its bucket's early call; if not, it stays late. */
    private static boolean earlyOverwrittenLater(int i, int[] order, int[] rows, int[] padded, int[] launch,
                                                 int[] bucket, Kind[] kind) {
        int p = order[i], late = launch[p];
        launch[p] = bucket[p];
        if (overwrittenLater(i, order, rows, padded, launch, kind)) return true;
        launch[p] = late;
        return false;
    }

    /**
     * Whether the {@code pad} rows before problem {@code order[i]}'s own all belong to problems of later calls (which
     * write their rows after it, whatever way they run): then it may write its padding backward over them.
     */
    private static boolean earlierInLaterCalls(int i, int[] order, int[] rows, long pad, int[] launch) {
        int p = order[i];
        long left = pad;
        for (int j = i - 1; j >= 0 && left > 0; j--) {
            if (launch[order[j]] <= launch[p]) return false;
            left -= rows[order[j]];
        }
        return left <= 0;
    }

    /** Whether the problems' rows (of {@code rowBytes}) lie back to back at {@code at} in {@code order}. */
    private static boolean backToBack(int[] order, int[] rows, long[] at, long rowBytes) {
        for (int i = 1; i < order.length; i++) {
            if (at[order[i]] != at[order[i - 1]] + rows[order[i - 1]] * rowBytes) return false;
        }
        return true;
    }

    /** The problems the batched calls cover. */
    public int placed() {
        int n = 0;
        for (Call c : calls) n += c.problems().size();
        return n;
    }
}
