package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.TokenScores;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The token scores of every row of a run ({@link io.moeprune.runtime.LayerMajorPass.Logits#SCORES}) on the device:
 * each row's target (its sequence's next token, or −1 where nothing is scored), and the loss, hit and finite flag
 * {@link DeviceOps#tokenScores} writes for it, read back once after every sequence's rows are queued: 12 bytes a
 * token instead of its 4·vocab bytes of logits, and nothing per vocabulary entry on the host.
 */
final class DeviceTokenScores implements AutoCloseable {
    private final DeviceOps ops;
    private final long[] firstRow;
    private final int[] first;
    private final int rows;
    /** [targets | nll | hits | flags], int32 or F32, a row each. */
    private final DeviceBuffer device;
    private float[] nll;
    private int[] hits, flags;

    /**
     * @param sequences the run's non-empty sequences, in order; sequence c's rows start at firstRow[c]
     * @param first     sequence c's first scored position (its targets: ids[t + 1] for t ≥ first[c])
     */
    DeviceTokenScores(DeviceOps ops, HostTransfers io, List<int[]> sequences, long[] firstRow, int[] first) {
        this.ops = ops;
        this.firstRow = firstRow;
        this.first = first;
        this.rows = Math.toIntExact(firstRow[sequences.size()]);
        int[] targets = new int[rows];
        for (int c = 0; c < sequences.size(); c++) {
            int[] ids = sequences.get(c);
            int at = (int) firstRow[c];
            for (int t = 0; t < ids.length; t++) targets[at + t] = t >= first[c] && t + 1 < ids.length ? ids[t + 1] : -1;
        }
        this.device = ops.alloc(16L * rows, "the token scores of " + rows + " tokens");
        io.upload(targets, rows, device);
    }

    private DeviceBuffer part(int part, long row) {
        long offset = 4L * (part * (long) rows + row);
        return new DeviceBuffer(device.address() + offset, device.bytes() - offset);
    }

    /** Queues the scores of logits [count, vocab] (of run rows from {@code row}) into their rows here. */
    void queue(DeviceBuffer logits, long row, int count, int vocab, float divisor) {
        ops.tokenScores(logits, count, vocab, part(0, row), divisor, part(1, row), part(2, row), part(3, row));
    }

    /** Reads every row's results back (waits for what was queued). */
    void download() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(12L * rows, 4);
            ops.download(device, 4L * rows, host);
            nll = host.asSlice(0, 4L * rows).toArray(ValueLayout.JAVA_FLOAT);
            hits = host.asSlice(4L * rows, 4L * rows).toArray(ValueLayout.JAVA_INT);
            flags = host.asSlice(8L * rows, 4L * rows).toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * Sequence c's scores (after {@link #download}); where a row of its logits was not finite, the CPU's error for
     * the first such row ({@link Model#nonFiniteLogits}).
     */
    TokenScores sequence(int c, Model model) {
        int at = (int) firstRow[c], n = (int) (firstRow[c + 1] - firstRow[c]);
        for (int t = 0; t < n; t++) {
            if (flags[at + t] != 0) throw model.nonFiniteLogits((flags[at + t] & 1) != 0, t);
        }
        int count = Math.max(0, n - 1 - first[c]);
        double[] losses = new double[count];
        boolean[] hit = new boolean[count];
        for (int i = 0; i < count; i++) {
            losses[i] = nll[at + first[c] + i];
            hit[i] = hits[at + first[c] + i] != 0;
        }
        return new TokenScores(first[c], losses, hit);
    }

    @Override
    public void close() {
        ops.free(device);
    }
}
