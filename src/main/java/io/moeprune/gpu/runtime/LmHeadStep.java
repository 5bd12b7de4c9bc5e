package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.kernels.Weights;
import io.moeprune.runtime.Model;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The final norm and the LM head, uploaded once at the end of a run (after the layer slots are freed) in row blocks
 * through a pinned staging buffer (or those of the resident weights, {@link ResidentWeights#head}, uploaded once), then each sequence's logits (all rows or the last) in blocks of rows that fit:
 * downloaded, or scored on the device ({@link #queueScores}), or their greedy next tokens picked there
 * ({@link #queueGreedy}).
 */
final class LmHeadStep implements AutoCloseable {
    private final DeviceOps ops;
    private final Model model;
    private final int hidden, vocab, rowsAtOnce;
    private final float eps, divisor;
    private final List<DeviceBuffer> owned = new ArrayList<>();
    private final DeviceBuffer head, norm, x, xn, xnBf16, logits;

    /** The head uploaded now through {@code staging}, with its own rows of activations. */
    LmHeadStep(DeviceOps ops, Model model, MemorySegment staging, HostTransfers io, boolean residentResiduals,
               int maxRows, long bound) {
        this(ops, model, null, staging, io, residentResiduals, maxRows, bound);
    }

    /**
     * A step over the head and final norm of {@code weights} (resident: nothing is uploaded), with its own rows of
     * activations sized in what the bound leaves, queued through {@code ops} (the pass's: the weights' own, or
     * {@link io.moeprune.gpu.ops.ProfiledOps} over them); closing it frees only those rows.
     */
    LmHeadStep(DeviceOps ops, LmHeadStep weights, boolean residentResiduals, int maxRows, long bound) {
        this(ops, weights.model, weights, null, null, residentResiduals, maxRows, bound);
    }

    private LmHeadStep(DeviceOps ops, Model model, LmHeadStep shared, MemorySegment staging, HostTransfers io,
                       boolean residentResiduals, int maxRows, long bound) {
        this.ops = ops;
        this.model = model;
        Weights w = model.lmHead().weights();
        this.hidden = w.cols();
        this.vocab = w.rows();
        this.eps = model.finalNorm().eps();
        this.divisor = model.spec().scaling().logitsDivisor();
        try {
            if (shared != null) {
                head = shared.head;
                norm = shared.norm;
            } else {
                head = alloc(2L * vocab * hidden, "the LM head");
                norm = alloc(4L * hidden, "the final norm");
                io.upload(model.finalNorm().weight(), hidden, norm, 0);
                upload(w, staging);
            }
            long perRow = 4L * hidden + 2L * hidden + 4L * vocab + (residentResiduals ? 0 : 4L * hidden);
            long free = bound - ops.allocatedBytes() - 4 * MemoryPlan.ROUNDING;
            long rows = Math.min(maxRows, free / perRow);
            if (rows < 1) throw GpuDevice.boundExceeded(bound, "a row of logits", perRow, ops.allocatedBytes());
            rowsAtOnce = (int) rows;
            x = residentResiduals ? null : alloc(4L * rowsAtOnce * hidden, "the LM head's input rows");
            xn = alloc(4L * rowsAtOnce * hidden, "the LM head's normalised rows");
            xnBf16 = alloc(2L * rowsAtOnce * hidden, "the LM head's normalised rows (BF16)");
            logits = alloc(4L * rowsAtOnce * vocab, "logits");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private DeviceBuffer alloc(long bytes, String what) {
        DeviceBuffer b = ops.alloc(bytes, what);
        owned.add(b);
        return b;
    }

    /** The head's weights on the device, BF16 [vocab, hidden] (a tied embedding table shares them). */
    DeviceBuffer weights() {
        return head;
    }

    /** The head in BF16, a block of rows per staging fill; the compute stream waits for the last copy. */
    private void upload(Weights w, MemorySegment staging) {
        int rowsPerBlock = (int) Math.max(1, Math.min(w.rows(), staging.byteSize() / (2L * hidden)));
        long fence = -1;
        for (int r0 = 0; r0 < w.rows(); r0 += rowsPerBlock) {
            int r1 = Math.min(w.rows(), r0 + rowsPerBlock);
            if (fence >= 0) ops.hostWaits(fence);
            MemorySegment block = staging.asSlice(0, 2L * (r1 - r0) * hidden);
            SlotLayout.writeBf16Rows(w, r0, r1, block);
            ops.uploadOnCopyStream(block, head, 2L * r0 * hidden);
            fence = ops.copyFence();
        }
        ops.computeWaits(fence);
    }

    /**
     * Logits of one sequence of n rows starting at residual row {@code row}: [n, vocab] when {@code all}, else the
     * last row's [vocab]; checked finite as the CPU's ({@code position}: the sequence position of its first row).
     */
    float[] logits(Residuals residuals, long row, int n, boolean all, HostTransfers io, int position) {
        float[] out = unchecked(residuals, row, n, all, io);
        model.requireFiniteLogits(out, vocab, position + (all ? 0 : n - 1));
        return out;
    }

    /** {@link #logits} without the finite check (for rows of different sequences, checked by the caller). */
    float[] unchecked(Residuals residuals, long row, int n, boolean all, HostTransfers io) {
        int from = all ? 0 : n - 1;
        float[] out = new float[(n - from) * vocab];
        for (int r0 = from; r0 < n; r0 += rowsAtOnce) {
            int rows = Math.min(rowsAtOnce, n - r0);
            queueLogits(residuals, row + r0, rows);
            io.download(logits, 0, out, (r0 - from) * vocab, rows * vocab);
        }
        if (divisor != 1f && divisor != 0f) for (int i = 0; i < out.length; i++) out[i] /= divisor;
        return out;
    }

    /**
     * Queues the token scores of one sequence's n rows from residual row {@code row} into {@code scores} (at the
     * same rows): each block of logits is scored where it is, nothing comes back until {@link DeviceTokenScores#download}.
     */
    void queueScores(Residuals residuals, long row, int n, DeviceTokenScores scores) {
        for (int r0 = 0; r0 < n; r0 += rowsAtOnce) {
            int rows = Math.min(rowsAtOnce, n - r0);
            queueLogits(residuals, row + r0, rows);
            scores.queue(logits, row + r0, rows, vocab, divisor);
        }
    }

    /**
     * Queues the greedy next tokens of n residual rows from {@code row} (a decode step's rows, one per sequence):
     * ids and flags (int32 [n] each) of each block of logits where it is ({@link DeviceOps#greedyTokens}, logits
     * divided as {@link #unchecked} divides them); nothing comes back here.
     */
    void queueGreedy(Residuals residuals, long row, int n, DeviceBuffer ids, DeviceBuffer flags) {
        for (int r0 = 0; r0 < n; r0 += rowsAtOnce) {
            int rows = Math.min(rowsAtOnce, n - r0);
            queueLogits(residuals, row + r0, rows);
            ops.greedyTokens(logits, rows, vocab, divisor, new DeviceBuffer(ids.at(4L * r0), 4L * rows),
                    new DeviceBuffer(flags.at(4L * r0), 4L * rows));
        }
    }

    /** Queues the (undivided) logits of {@code rows} residual rows from {@code row} into {@link #logits}. */
    private void queueLogits(Residuals residuals, long row, int rows) {
        DeviceBuffer in = residuals.rows(row, rows, x);
        ops.rmsNorm(in, 0, xn, 0, rows, hidden, hidden, norm, eps);
        ops.toBf16(xn, xnBf16, (long) rows * hidden);
        ops.linear(rows, vocab, hidden, head, 0, xnBf16, 0, logits, 0, vocab, false);
    }

    @Override
    public void close() {
        for (DeviceBuffer b : owned) ops.free(b);
        owned.clear();
    }
}
