package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;

/**
 * The device arrays the experts' grouped products read their pointers from ({@link CudaGroupedProducts}: per call
 * the W, x, y arrays, and the batched path's copy-out table), one buffer grown as needed. A run reserves them before
 * it plans its memory ({@link DeviceOps#reserveGroupedProducts}), so that the plan counts them: grown in the middle of
 * a run, after the batched path's scratch took what the bound left, they failed a run the plan had accepted (the
 * H100's TokenScoresCudaTest at 56 MB, 2026-12-07). HostOps keeps one too, grown by the same rule, so that CI's
 * device counts the same bytes against its bound. The reservation ends with the run: a run frees what it took.
 */
final class PointerArrays {
    /** The least size (512 problems' W, x, y pointers): one allocation serves every model of up to 256 experts. */
    static final long MIN_BYTES = 3L * 8 * 512;

    private final DeviceOps ops;
    private DeviceBuffer buffer;
    /** Runs (and decoders) holding a reservation: the arrays are freed when the last one closes it. */
    private int holders;

    PointerArrays(DeviceOps ops) {
        this.ops = ops;
    }

    /**
     * The most bytes a call of {@code problems} experts puts in the arrays: the batched path's W, x, y pointers of
     * each placed problem and a copy-out row (scratch row, output, count) of each padded one, 6 longs an expert at
     * most (the grouped path takes 3; the gemv kernel's table 4 a piece: it takes a call of up to 1.5 pieces an
     * expert).
     */
    static long bytes(int problems) {
        return Math.max(MIN_BYTES, 6L * 8 * problems);
    }

    /**
     * The arrays for calls of up to {@code problems} experts, allocated now, held until the reservation is closed
     * (by its last holder). A {@code --gpu-memory} error when the bound has no room for them.
     */
    synchronized DeviceOps.Reservation hold(int problems) {
        reserve(problems);
        holders++;
        boolean[] closed = new boolean[1];
        return () -> {
            synchronized (this) {
                if (closed[0]) return;
                closed[0] = true;
                if (--holders == 0 && buffer != null) {
                    ops.free(buffer);
                    buffer = null;
                }
            }
        };
    }

    /**
     * The arrays, at least {@link #bytes} of {@code problems}: a product's call, a no-op inside a reservation that
     * covers it; outside one (a test of the ops alone) allocated or grown now and kept until the ops close.
     */
    synchronized DeviceBuffer reserve(int problems) {
        long bytes = bytes(problems);
        if (buffer == null || buffer.bytes() < bytes) {
            // Stream order keeps the old array alive for the products already queued; cudaFree waits for them.
            if (buffer != null) ops.free(buffer);
            buffer = null;
            buffer = ops.alloc(bytes, "the experts' products' pointer arrays");
        }
        return buffer;
    }
}
