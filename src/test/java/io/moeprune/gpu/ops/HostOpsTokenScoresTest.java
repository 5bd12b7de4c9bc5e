package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HostOps' tokenScores (the reference the CUDA kernel is checked against) against Perplexity's former arithmetic:
 * each row's NLL the F32 of the same double, hits (ties to the lowest index) and finite flags exact, with and without
 * a logits divisor.
 */
class HostOpsTokenScoresTest {
    @Test
    void rowsScoreAsPerplexityDid() {
        ScoreRows in = ScoreRows.random(22, 24, 5000);
        try (HostOps ops = new HostOps(1L << 28); Arena a = Arena.ofConfined()) {
            DeviceBuffer logits = upload(ops, a.allocateFrom(JAVA_FLOAT, in.logits()));
            DeviceBuffer targets = upload(ops, a.allocateFrom(JAVA_INT, in.targets()));
            for (float divisor : new float[]{1f, 8f, 3f, 0f}) {
                DeviceBuffer nll = ops.alloc(4L * in.rows(), "nll"), hits = ops.alloc(4L * in.rows(), "hits"),
                        flags = ops.alloc(4L * in.rows(), "flags");
                ops.tokenScores(logits, in.rows(), in.vocab(), targets, divisor, nll, hits, flags);
                ScoreRows.Expected want = in.expected(divisor);
                assertArrayEquals(want.nll(), download(ops, nll, in.rows(), a).toArray(JAVA_FLOAT), "nll / " + divisor);
                int[] gotHits = download(ops, hits, in.rows(), a).toArray(JAVA_INT);
                assertArrayEquals(want.hits(), gotHits, "hits / " + divisor);
                assertArrayEquals(want.flags(), download(ops, flags, in.rows(), a).toArray(JAVA_INT), "flags / " + divisor);
                assertEquals(2 * (in.vocab() - 17) + 1, want.flags()[ScoreRows.NAN_ROW], "the NaN before the infinity");
                assertEquals(2 * 3, want.flags()[ScoreRows.INFINITE_ROW], "-infinity");
                int h = ScoreRows.count(gotHits);
                assertTrue(h > 0 && h < in.rows() - 6, "hits and misses: " + h);
                for (DeviceBuffer b : new DeviceBuffer[]{nll, hits, flags}) ops.free(b);
            }
        }
    }

    private static DeviceBuffer upload(HostOps ops, MemorySegment host) {
        DeviceBuffer b = ops.alloc(host.byteSize(), "an input");
        ops.upload(host, b, 0);
        return b;
    }

    private static MemorySegment download(HostOps ops, DeviceBuffer b, int count, Arena a) {
        MemorySegment s = a.allocate(4L * count, 4);
        ops.download(b, 0, s);
        return s;
    }
}
