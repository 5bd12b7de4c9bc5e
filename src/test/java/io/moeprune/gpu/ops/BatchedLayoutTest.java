package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the batched path's padded problems read and write: reads inside the inputs, writes only into the problem's
 * own rows or its scratch slot, and the copy-out taking exactly the live rows; then the layout run on HostOps (one
 * product per placement at the padded count, the copy-out in Java) against {@link HostOps#groupedLinear}.
 */
class BatchedLayoutTest {
    private static final int IN = 48, OUT = 40;

    /** Uneven rows, 0.5x-1.5x of 24, a few experts empty (the first and the last among them). */
    private static int[] unevenRows(Random r, int experts) {
        int[] rows = new int[experts];
        for (int e = 0; e < experts; e++) rows[e] = e % 7 == 0 || e == experts - 1 ? 0 : 12 + r.nextInt(25);
        return rows;
    }

    /** Row offsets of back-to-back problems in expert order. */
    /** Each problem's first row at {@code rowBytes} per row, the problems back to back from 0 (as the pass lays them). */
    private static long[] addresses(int[] rows, long rowBytes) {
        long[] start = starts(rows);
        for (int e = 0; e < start.length; e++) start[e] *= rowBytes;
        return start;
    }

    private static long[] starts(int[] rows) {
        long[] s = new long[rows.length];
        for (int e = 1; e < rows.length; e++) s[e] = s[e - 1] + rows[e - 1];
        return s;
    }

    @Test
    void paddedProblemsReadInsideTheInputsAndWriteOnlyTheirOwnRows() {
        int[] rows = unevenRows(new Random(3), 40);
        rows[38] = 5;   // the last non-empty problem is short: its padded read must move back
        long[] start = starts(rows);
        long x0 = 1L << 20, y0 = 1L << 40, rowBytes = 2L * IN;
        long[] x = new long[rows.length], y = new long[rows.length];
        long total = 0;
        for (int e = 0; e < rows.length; e++) {
            x[e] = x0 + start[e] * rowBytes;
            y[e] = y0 + 4L * start[e] * OUT;
            total += rows[e];
        }
        ExpertBuckets plan = ExpertBuckets.of(rows);
        BatchedLayout layout = BatchedLayout.of(plan, rows, IN, OUT, x, y);
        assertEquals(0, layout.alone().length);
        long live = 0;
        for (int r : rows) if (r > 0) live++;
        assertEquals(live, layout.placed());
        boolean[] slotTaken = new boolean[(int) layout.scratchRows()];
        int copyIndex = 0, directPadded = 0, directBack = 0;
        for (BatchedLayout.Call call : layout.calls()) {
            for (BatchedLayout.Placement pl : call.problems()) {
                int p = pl.problem(), padded = call.rows();
                assertTrue(pl.x() >= x0 && pl.x() + padded * rowBytes <= x0 + total * rowBytes,
                        "problem " + p + " reads outside the inputs");
                assertTrue(pl.x() <= x[p] && x[p] + rows[p] * rowBytes <= pl.x() + padded * rowBytes,
                        "problem " + p + "'s own rows are among those it reads");
                if (pl.direct()) {
                    // as is, or shifted back by its padding (the same rows in and out)
                    long back = (x[p] - pl.x()) / rowBytes;
                    assertTrue(back == 0 || back == padded - rows[p], "problem " + p + " shifted " + back);
                    assertEquals(y[p] - 4L * OUT * back, pl.y());
                    if (rows[p] < padded) directPadded++;
                    if (back > 0) directBack++;
                    continue;
                }
                for (long s = pl.scratchRow(); s < pl.scratchRow() + padded; s++) {
                    assertTrue(!slotTaken[(int) s], "scratch row " + s + " written twice");
                    slotTaken[(int) s] = true;
                }
                BatchedLayout.Copy copy = layout.copies().get(copyIndex++);
                assertEquals(p, copy.problem());
                assertEquals(rows[p], copy.rows());
                assertEquals(y[p], copy.y());
                // the live rows start where the problem's first own input row is among the rows it read
                assertEquals(pl.scratchRow() + (x[p] - pl.x()) / rowBytes, copy.scratchRow());
            }
        }
        assertEquals(layout.copies().size(), copyIndex);
        for (boolean taken : slotTaken) assertTrue(taken);
        // both kinds of padded problems: written directly (their extra rows written again later) and copied out
        assertTrue(directBack > 0 && directPadded > directBack && copyIndex > 0,
                directPadded + " padded written directly (" + directBack + " backward), " + copyIndex + " copied");
    }

    @Test
    void aSmallerScratchLeavesTheProblemsBeyondItAlone() {
        int[] rows = unevenRows(new Random(5), 30);
        long[] x = addresses(rows, 2L * IN), y = addresses(rows, 4L * OUT);
        ExpertBuckets plan = ExpertBuckets.of(rows);
        BatchedLayout whole = BatchedLayout.of(plan, rows, IN, OUT, x, y);
        BatchedLayout half = BatchedLayout.of(plan, rows, IN, OUT, x, y, whole.scratchRows() / 2, true);
        assertTrue(half.scratchRows() <= whole.scratchRows() / 2);
        assertTrue(half.alone().length > 0);
        assertEquals(whole.placed(), half.placed() + half.alone().length);
        assertEquals(whole.copies().size(), half.copies().size() + half.alone().length);
        BatchedLayout none = BatchedLayout.of(plan, rows, IN, OUT, x, y, 0, true);
        assertEquals(0, none.scratchRows());
        assertEquals(whole.copies().size(), none.alone().length);
    }

    @Test
    void earlyCallsCopyFewerRowsInAtMostTwiceTheCalls() {
        int[] rows = unevenRows(new Random(9), 64);
        long[] x = addresses(rows, 2L * IN), y = addresses(rows, 4L * OUT);
        ExpertBuckets plan = ExpertBuckets.of(rows);
        BatchedLayout early = BatchedLayout.of(plan, rows, IN, OUT, x, y, Long.MAX_VALUE, true);
        BatchedLayout late = BatchedLayout.of(plan, rows, IN, OUT, x, y, Long.MAX_VALUE, false);
        assertEquals(plan.launches(), late.calls().size());
        assertTrue(early.calls().size() > late.calls().size() && early.calls().size() <= 2 * plan.launches());
        assertTrue(early.scratchRows() < late.scratchRows(), early.scratchRows() + " vs " + late.scratchRows());
    }

    @Test
    void inputsNotBackToBackLeavePaddedProblemsAlone() {
        int[] rows = {16, 5, 16, 7};
        long[] x = {0, 1 << 20, 2 << 20, 3 << 20}, y = {0, 1 << 21, 2 << 21, 3 << 21};
        BatchedLayout layout = BatchedLayout.of(ExpertBuckets.of(rows, 0.0), rows, IN, OUT, x, y);
        assertArrayEquals(new int[]{1, 3}, layout.alone());
        assertEquals(2, layout.placed());
        assertEquals(0, layout.scratchRows());
    }

    @Test
    void fewerInputRowsThanOnePaddedProblemRunAlone() {
        int[] rows = {3, 0, 2};
        long[] x = {0, 2L * 3 * IN, 2L * 3 * IN}, y = {0, 4L * 3 * OUT, 4L * 3 * OUT};
        BatchedLayout layout = BatchedLayout.of(ExpertBuckets.of(rows), rows, IN, OUT, x, y);
        assertArrayEquals(new int[]{0, 2}, layout.alone());
        assertEquals(0, layout.placed());
    }

    @Test
    void theLayoutRunOnHostOpsGivesTheGroupedProducts() {
        // Many row draws, each call's problems in both orders: a padded row written over a neighbour's and not
        // written again would show as that neighbour's wrong row.
        for (int seed = 0; seed < 40; seed++) {
            Random r = new Random(seed);
            int experts = 4 + r.nextInt(30);
            int[] rows = unevenRows(r, experts);
            if (seed % 4 == 1) for (int e = 0; e < experts; e++) rows[e] = rows[e] / 6;   // few rows: granularity 8
            // every third draw with a scratch smaller than the layout wants (the memory bound's share)
            long maxScratch = seed % 3 == 2 ? r.nextInt(40) : Long.MAX_VALUE;
            boolean earlyCalls = seed % 5 != 4;
            // BF16 outputs (-Dmoeprune.expertOutputs=bf16): rows half as long, the backward shift in their bytes
            for (ExpertOutputs outputs : ExpertOutputs.values()) {
                runLayoutOnHostOps(new Random(seed), rows, maxScratch, earlyCalls, false, outputs);
                runLayoutOnHostOps(new Random(seed), rows, maxScratch, earlyCalls, true, outputs);
            }
        }
    }

    /**
     * The layout run on HostOps: the calls in order at their padded counts, each call's problems in order or
     * {@code reversed} (on the GPU they run at once: padding written forward over a problem of the same call stays
     * when they run last first, backward when first first), then the copy-out, then the products alone; outputs of
     * {@code outputs}' type.
     */
    private static void runLayoutOnHostOps(Random r, int[] rows, long maxScratchRows, boolean earlyCalls,
                                           boolean reversed, ExpertOutputs outputs) {
        long rowBytes = (long) outputs.bytes() * OUT;
        int experts = rows.length;
        long[] start = starts(rows);
        long total = Math.max(1, start[experts - 1] + rows[experts - 1]);
        try (HostOps ops = new HostOps(1L << 30); Arena a = Arena.ofConfined()) {
            DeviceBuffer w = ops.alloc(2L * experts * OUT * IN, "w"), x = ops.alloc(2L * total * IN, "x");
            DeviceBuffer expected = ops.alloc(total * rowBytes, "expected"), y = ops.alloc(total * rowBytes, "y");
            fillBf16(ops, w, r, (long) experts * OUT * IN, a);
            fillBf16(ops, x, r, total * IN, a);
            long[] wp = new long[experts], xp = new long[experts], ep = new long[experts], yp = new long[experts];
            for (int e = 0; e < experts; e++) {
                wp[e] = w.address() + 2L * e * OUT * IN;
                xp[e] = x.address() + 2L * start[e] * IN;
                ep[e] = expected.address() + start[e] * rowBytes;
                yp[e] = y.address() + start[e] * rowBytes;
            }
            ops.groupedLinear(rows, OUT, IN, wp, xp, ep, outputs);

            BatchedLayout layout = BatchedLayout.of(ExpertBuckets.of(rows), rows, IN, OUT, xp, yp, maxScratchRows,
                    earlyCalls, outputs);
            assertTrue(layout.scratchRows() <= maxScratchRows);
            DeviceBuffer scratch = ops.alloc(Math.max(4, layout.scratchRows() * rowBytes), "scratch");
            for (BatchedLayout.Call call : layout.calls()) {
                for (BatchedLayout.Placement pl : reversed ? call.problems().reversed() : call.problems()) {
                    long to = pl.direct() ? pl.y() : scratch.address() + pl.scratchRow() * rowBytes;
                    ops.groupedLinear(new int[]{call.rows()}, OUT, IN, new long[]{wp[pl.problem()]},
                            new long[]{pl.x()}, new long[]{to}, outputs);
                }
            }
            for (BatchedLayout.Copy c : layout.copies()) {
                MemorySegment rowsOut = a.allocate(c.rows() * rowBytes);
                ops.download(scratch, c.scratchRow() * rowBytes, rowsOut);
                ops.upload(rowsOut, y, c.y() - y.address());
            }
            for (int p : layout.alone()) {
                ops.groupedLinear(new int[]{rows[p]}, OUT, IN, new long[]{wp[p]}, new long[]{xp[p]},
                        new long[]{yp[p]}, outputs);
            }
            assertArrayEquals(bytes(ops, expected, total * rowBytes, a), bytes(ops, y, total * rowBytes, a),
                    outputs + " " + java.util.Arrays.toString(rows));
        }
    }

    private static void fillBf16(HostOps ops, DeviceBuffer b, Random r, long count, Arena a) {
        MemorySegment s = a.allocate(2 * count);
        for (long i = 0; i < count; i++) s.setAtIndex(JAVA_SHORT, i, HostOps.toBf16Bits((float) r.nextGaussian()));
        ops.upload(s, b, 0);
    }

    private static byte[] bytes(HostOps ops, DeviceBuffer b, long count, Arena a) {
        MemorySegment s = a.allocate(count);
        ops.download(b, 0, s);
        return s.toArray(JAVA_BYTE);
    }
}
