package io.moeprune.gpu.ops;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The batched path's buckets: every non-empty expert in exactly one, padding within the bound, coarsest first. */
class ExpertBucketsTest {

    @Test
    void evenRowsAreOneCallWithoutPadding() {
        int[] rows = new int[128];
        Arrays.fill(rows, 1024);
        ExpertBuckets plan = ExpertBuckets.of(rows);
        assertEquals(256, plan.granularity());
        assertEquals(1, plan.launches());
        assertEquals(1024, plan.buckets().getFirst().rows());
        assertEquals(128L * 1024, plan.paddedRows());
    }

    @Test
    void unevenRowsStayWithinTheBoundInFewCalls() {
        Random r = new Random(7);
        int[] rows = new int[128];
        long useful = 0;
        for (int e = 0; e < rows.length; e++) {
            rows[e] = e % 16 == 5 ? 0 : 64 + r.nextInt(129);   // 0.5x-1.5x of 128, a few empty
            useful += rows[e];
        }
        ExpertBuckets plan = ExpertBuckets.of(rows);
        assertTrue(plan.paddedRows() - useful <= ExpertBuckets.MAX_WASTE * useful,
                plan.paddedRows() + " rows for " + useful);
        // the coarser granularity would have wasted more than the bound
        assertTrue(ExpertBuckets.padding(rows, 2 * plan.granularity()) > ExpertBuckets.MAX_WASTE * useful);
        assertTrue(plan.launches() <= 9, plan.launches() + " calls");
        coversEachExpertOnce(rows, plan);
    }

    @Test
    void fewRowsTakeTheFinestGranularity() {
        int[] rows = {1, 0, 3, 2, 0, 1};
        ExpertBuckets plan = ExpertBuckets.of(rows);
        assertEquals(8, plan.granularity());
        assertEquals(1, plan.launches());
        assertArrayEquals(new int[]{0, 2, 3, 5}, plan.buckets().getFirst().problems());
        coversEachExpertOnce(rows, plan);
    }

    @Test
    void noRowsNoCalls() {
        ExpertBuckets plan = ExpertBuckets.of(new int[]{0, 0, 0});
        assertEquals(0, plan.launches());
        assertEquals(0, plan.paddedRows());
    }

    @Test
    void bucketsAscendByPaddedRows() {
        int[] rows = {300, 17, 64, 250, 9};
        ExpertBuckets plan = ExpertBuckets.of(rows, 0.5);
        for (int i = 1; i < plan.buckets().size(); i++) {
            assertTrue(plan.buckets().get(i - 1).rows() < plan.buckets().get(i).rows());
        }
        coversEachExpertOnce(rows, plan);
    }

    /** Each expert with rows in one bucket, whose count is its rows rounded up to the granularity; none empty. */
    static void coversEachExpertOnce(int[] rows, ExpertBuckets plan) {
        int[] seen = new int[rows.length];
        for (ExpertBuckets.Bucket b : plan.buckets()) {
            assertEquals(0, b.rows() % plan.granularity());
            for (int p : b.problems()) {
                seen[p]++;
                assertTrue(rows[p] > 0, "expert " + p + " has no rows");
                assertTrue(b.rows() >= rows[p] && b.rows() - rows[p] < plan.granularity(),
                        "expert " + p + ": " + rows[p] + " rows in a bucket of " + b.rows());
            }
        }
        for (int p = 0; p < rows.length; p++) assertEquals(rows[p] > 0 ? 1 : 0, seen[p], "expert " + p);
    }
}
