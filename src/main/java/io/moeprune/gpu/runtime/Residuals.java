package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The residual streams of every sequence of a run, [tokens, H] F32 in run order, between layers: on the device when
 * they fit ({@link MemoryPlan#residentResiduals}), else in pinned host memory, a chunk's rows copied to the device
 * for its layer and back after it.
 */
final class Residuals implements AutoCloseable {
    private final DeviceOps ops;
    private final int hidden;
    private final DeviceBuffer device;
    private final MemorySegment host;

    Residuals(DeviceOps ops, long tokens, int hidden, boolean resident) {
        this.ops = ops;
        this.hidden = hidden;
        long bytes = 4L * tokens * hidden;
        this.device = resident ? ops.alloc(bytes, "the residual streams of " + tokens + " tokens") : null;
        this.host = resident ? null : ops.pinnedHost(bytes);
    }

    private long at(long row) {
        return 4L * row * hidden;
    }

    /** Sets rows from {@code row} (a decode step's embeddings). */
    void put(long row, float[] rows, HostTransfers io) {
        if (device != null) io.upload(rows, rows.length, device, at(row));
        else MemorySegment.copy(rows, 0, host, ValueLayout.JAVA_FLOAT_UNALIGNED, at(row), rows.length);
    }

    /**
     * Sets every sequence's rows (sequence c's from row firstRow[c], c < firstRow.length − 1) to {@code rowsOf(c)}
     * (its embeddings), computed by {@code pool}'s threads a sequence each and written into pinned memory: the host
     * rows themselves, or a pinned copy uploaded in one piece after them. The first sequence (in order) whose rows
     * failed: its exception, nothing uploaded.
     */
    void fill(long[] firstRow, IntFunction<float[]> rowsOf, StagingPool pool) {
        long tokens = firstRow[firstRow.length - 1];
        MemorySegment into = device != null ? ops.pinnedHost(at(tokens)).asSlice(0, at(tokens)) : host;
        try {
            List<Runnable> tasks = new ArrayList<>();
            for (int c = 0; c + 1 < firstRow.length; c++) {
                int sequence = c;
                tasks.add(() -> {
                    float[] rows = rowsOf.apply(sequence);
                    MemorySegment.copy(rows, 0, into, ValueLayout.JAVA_FLOAT_UNALIGNED, at(firstRow[sequence]), rows.length);
                });
            }
            pool.run(tasks);
            if (device != null) ops.upload(into, device, 0);
        } finally {
            if (device != null) ops.releasePinned(into);   // the upload may still read it: the ops keep it until then
        }
    }

    /** {@code count} rows from {@code row} on the device: a view of them, or {@code scratch} with them copied in. */
    DeviceBuffer rows(long row, int count, DeviceBuffer scratch) {
        if (device != null) return new DeviceBuffer(device.address() + at(row), 4L * count * hidden);
        ops.upload(host.asSlice(at(row), 4L * count * hidden), scratch, 0);
        return scratch;
    }

    /**
     * Puts back rows {@link #rows} gave (a copy back to the host unless they are resident), queued without a wait:
     * only the compute stream reads them again (their next chunk's upload), in stream order.
     */
    void back(long row, int count, DeviceBuffer scratch) {
        if (device == null) ops.downloadQueued(scratch, 0, host.asSlice(at(row), 4L * count * hidden));
    }

    @Override
    public void close() {
        if (device != null) ops.free(device);
        if (host != null) ops.releasePinned(host);
    }
}
