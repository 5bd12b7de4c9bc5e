package io.moeprune.gpu.runtime;

import io.moeprune.gpu.GpuDevice;

import java.util.ArrayList;
import java.util.List;

/**
 * How a run's device memory is shared, planned before anything is allocated: two weight slots, then the residual
 * streams of every sequence if they fit beside a chunk of the longest sequence (else they wait in pinned host memory
 * and each chunk's rows are copied in and out), then activations for as many tokens as fit: the sequences of a layer
 * run in chunks of whole sequences of at most {@link #chunkTokens} tokens.
 *
 * @param slotBytes         one weight slot (the largest layer)
 * @param tokenBytes        activation bytes per token of a chunk (a chunk's x rows included when not resident)
 * @param residentResiduals whether every sequence's residual stream stays on the device
 * @param chunkTokens       tokens of a chunk at most (at least the longest sequence)
 */
record MemoryPlan(long slotBytes, long tokenBytes, boolean residentResiduals, int chunkTokens) {
    /** Allocations are rounded to this many bytes; this many per buffer are kept in reserve. */
    static final long ROUNDING = 256;

    /**
     * The plan for {@code available} bytes (the {@code --gpu-memory} bound less what is held already); a too-small
     * bound is the one-line {@code --gpu-memory} error naming what does not fit.
     *
     * @param chunkBytes per token of a chunk: activations, the chunk's x rows excluded
     * @param buffers    how many activation buffers a chunk allocates (each rounded up)
     * @param hidden     the residual width
     */
    static MemoryPlan of(long available, long slotBytes, long chunkBytes, int buffers, long totalTokens, int longest,
                         int hidden, long limit, long inUse) {
        long weights = 2 * slotBytes;
        long rowBytes = 4L * hidden;
        long reserve = ROUNDING * (buffers + 2);
        long afterWeights = available - weights - reserve;
        if (afterWeights <= 0) {
            throw GpuDevice.boundExceeded(limit, "two layer-weight slots", weights + reserve, inUse);
        }
        long residualBytes = totalTokens * rowBytes;
        if (residualBytes + longest * chunkBytes <= afterWeights) {
            int tokens = (int) Math.min(Integer.MAX_VALUE, (afterWeights - residualBytes) / chunkBytes);
            return new MemoryPlan(slotBytes, chunkBytes, true, (int) Math.min(tokens, Math.max(totalTokens, 1)));
        }
        long perToken = chunkBytes + rowBytes;
        long tokens = afterWeights / perToken;
        if (tokens < longest) {
            throw GpuDevice.boundExceeded(limit, "a chunk of the longest sequence (" + longest + " tokens)",
                    weights + reserve + longest * perToken, inUse);
        }
        return new MemoryPlan(slotBytes, perToken, false, (int) Math.min(tokens, totalTokens));
    }

    /**
     * The run's sequences (their lengths, in run order) cut into consecutive chunks of at most {@link #chunkTokens}
     * tokens: each chunk lists the indices (into {@code lengths}) of its sequences.
     */
    List<int[]> chunks(int[] lengths) {
        List<int[]> chunks = new ArrayList<>();
        int from = 0, tokens = 0;
        for (int i = 0; i < lengths.length; i++) {
            if (tokens + lengths[i] > chunkTokens && i > from) {
                chunks.add(range(from, i));
                from = i;
                tokens = 0;
            }
            tokens += lengths[i];
        }
        if (from < lengths.length) chunks.add(range(from, lengths.length));
        return chunks;
    }

    private static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }
}
