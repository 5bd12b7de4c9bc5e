package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.model.GroupStrategy;

import java.lang.foreign.MemorySegment;

/**
 * The primitive operations the GPU runtime is built from, on buffers of one device. Two implementations: {@code CudaOps}
 * (NVRTC kernels and cuBLAS on a CUDA device) and {@link HostOps} (the same arithmetic in Java on host memory: CI
 * tests the GPU runtime's planning, schedule and bookkeeping with it, and the device tests check every CUDA kernel
 * against it on random inputs).
 *
 * <p>Conventions: row-major; activations F32; matrix-product inputs BF16 (round to nearest even, as {@link #toBf16}),
 * accumulated in F32; offsets ({@code ...Offset}) in bytes, counts, strides and columns in elements; every operation is queued in order on the device's compute
 * stream (HostOps runs it at once) and may read what earlier ones wrote. Index arrays (positions, sequence starts,
 * gather rows) are device int32 buffers. Nothing here synchronises with the host except {@link #download} (which
 * waits) and {@link #synchronize}.
 */
public interface DeviceOps extends AutoCloseable {

    // ---- memory -------------------------------------------------------------------------------------------------

    /** Device memory for {@code what} (named in the error when the {@code --gpu-memory} bound is exceeded). */
    DeviceBuffer alloc(long bytes, String what);

    void free(DeviceBuffer buffer);

    /** Copies host bytes into the buffer at {@code offset} (bytes), in stream order. */
    void upload(MemorySegment host, DeviceBuffer dst, long offset);

    /** Copies buffer bytes from {@code offset} into host memory; returns when they are there. */
    void download(DeviceBuffer src, long offset, MemorySegment host);

    /**
     * Queues a copy of buffer bytes from {@code offset} into pinned host memory ({@link #pinnedHost}) on the compute
     * stream, without waiting: the host may read them after {@link #synchronize} (or a {@link #download}); work queued
     * later (an upload of the same memory) sees them. Pageable memory waits, as {@link #download}.
     */
    void downloadQueued(DeviceBuffer src, long offset, MemorySegment pinnedHost);

    /** Sets {@code bytes} bytes from {@code offset} to zero. */
    void zero(DeviceBuffer buffer, long offset, long bytes);

    /** Waits until everything queued has run (a kernel fault surfaces here). */
    void synchronize();

    // ---- the weight-streaming schedule ----------------------------------------------------------------------------
    // Layer L+1's weights are copied on a second (copy) stream while layer L computes; the two streams order each
    // other through fences. HostOps runs everything at once, so its fences are trivially passed.

    /**
     * Page-locked host memory for staging copies: one {@link #releasePinned} gave back if one of about this size is
     * kept, else new; freed with these ops at the latest.
     */
    MemorySegment pinnedHost(long bytes);

    /** Gives back memory of {@link #pinnedHost} for a later one to reuse (copies from it may still be queued). */
    void releasePinned(MemorySegment host);

    /** Queues a copy host→device on the copy stream (from pinned memory it overlaps the compute stream's work). */
    void uploadOnCopyStream(MemorySegment host, DeviceBuffer dst, long offset);

    /** A fence after everything queued so far on the copy stream. */
    long copyFence();

    /** A fence after everything queued so far on the compute stream. */
    long computeFence();

    /**
     * Work queued on the compute stream from now on waits for {@code fence} (of {@link #copyFence} or
     * {@link #downloadFence}).
     */
    void computeWaits(long fence);

    /** Work queued on the copy stream from now on waits for {@code fence} (of {@link #computeFence}). */
    void copyWaits(long fence);

    /**
     * The host waits for {@code fence}, of any stream (before refilling a staging buffer a copy still reads, before
     * reading what a queued download wrote).
     */
    void hostWaits(long fence);

    /**
     * A timing mark after everything queued so far on the copy stream ({@code copyStream}) or the compute stream, for
     * {@link #elapsedSeconds} (benchmarks: per-layer copy and compute times of asynchronous work). CudaOps records a
     * timing CUDA event (fences use cheaper events without timing), kept until the ops close; HostOps, which runs
     * everything at once, returns the host's clock.
     */
    long timingMark(boolean copyStream);

    /** Seconds from mark {@code from} to mark {@code to} (waits until {@code to} has passed). */
    double elapsedSeconds(long from, long to);

    /**
     * Marks already read ({@link #elapsedSeconds}) that no one reads again: later {@link #timingMark}s may reuse
     * their events (CudaOps; a profile of thousands of marks a run creates them once, not every run). HostOps'
     * marks are its clock: nothing to release.
     */
    default void releaseMarks(long[] marks) {
    }

    /**
     * Bytes in use now and the most in use at once. Freed buffers are kept for reuse by a later allocation of about
     * their size and still count against the {@code --gpu-memory} bound, but not here: an allocation that needs their
     * room releases them first, so a plan of {@code bound − allocatedBytes()} holds.
     */
    long allocatedBytes();

    long peakBytes();

    // ---- the download stream: the observers' device→host copies ---------------------------------------------------
    // A third stream, so that the copies a calibration's observers read overlap the compute stream's next kernels
    // instead of holding them up (issue 22), and never queue in front of a streamed layer's upload on the copy stream.
    // The download stream waits for a compute fence taken after the kernels that wrote what it copies; the compute
    // stream waits for its fence before it overwrites any of it. HostOps runs everything at once: trivially ordered.

    /**
     * Queues a copy of buffer bytes from {@code offset} into pinned host memory ({@link #pinnedHost}) on the download
     * stream, without waiting; it reads the buffer when the download stream gets there, so the caller orders it after
     * the kernels that wrote the bytes ({@link #downloadWaits}) and before those that overwrite them
     * ({@link #computeWaits} of a {@link #downloadFence} after it). The host reads the bytes after that fence
     * ({@link #hostWaits}). Pageable memory waits, as {@link #download}.
     */
    void downloadOnDownloadStream(DeviceBuffer src, long offset, MemorySegment pinnedHost);

    /** A fence after everything queued so far on the download stream. */
    long downloadFence();

    /** Work queued on the download stream from now on waits for {@code fence} (of {@link #computeFence}). */
    void downloadWaits(long fence);

    /** {@link #timingMark} after everything queued so far on the download stream. */
    long downloadTimingMark();

    // ---- conversions --------------------------------------------------------------------------------------------

    /** dst_bf16[i] = round-to-nearest-even(src_f32[i]) for i < count. */
    void toBf16(DeviceBuffer src, DeviceBuffer dst, long count);

    /**
     * FP8 e4m3 (fn: no infinities, 0x7F/0xFF NaN) weights [rows, cols] with block scales F32
     * [ceil(rows/block), ceil(cols/block)] to BF16: dst[r, c] = bf16(e4m3(src[r, c]) · scale[r/block, c/block]).
     */
    void dequantFp8Blocks(DeviceBuffer src, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols, int block);

    /**
     * MXFP4 weights (gpt-oss): {@code blocks} u8 [rows, cols/32, 16] (two E2M1 values a byte, low nibble first) and
     * {@code scales} u8 [rows, cols/32] (E8M0: 2^(s−127)) to BF16 dst [rows, cols].
     */
    void dequantMxfp4(DeviceBuffer blocks, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols);

    // ---- matrix products ----------------------------------------------------------------------------------------

    /**
     * y[n, out] (row stride {@code ldy}) = x[n, in]·W[out, in]ᵀ (+ y when {@code accumulate}); W and x BF16, y F32.
     */
    void linear(int n, int out, int in, DeviceBuffer w, long wOffset, DeviceBuffer x, long xOffset, DeviceBuffer y,
                long yOffset, int ldy, boolean accumulate);

    /** y[n, out] = x[n, in]·W[out, in]ᵀ all in F32 (routers: the CPU runtime computes them in F32 too). */
    void linearF32(int n, int out, int in, DeviceBuffer w, DeviceBuffer x, DeviceBuffer y);

    /**
     * The experts of one layer in one call: for each problem p, y_p[rows[p], out] = x_p[rows[p], in]·W_pᵀ, with BF16
     * W and x and F32 y; the three arrays hold device addresses (host-side, one per problem). Problems with 0 rows are
     * skipped.
     */
    default void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y) {
        groupedLinear(rows, out, in, w, x, y, ExpertOutputs.F32);
    }

    /**
     * {@link #groupedLinear} writing y in {@code outputs}' type: BF16 outputs are the F32 accumulation rounded to
     * nearest even (as {@link #toBf16}).
     */
    void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs);

    /**
     * {@link #groupedLinear} of a layer's experts with their row counts left on the device (a decode step's products,
     * {@code -Dmoeprune.decodeRouting=device}: no download of the counts, nothing waits). Expert e's rows are
     * [expertStart[e], expertStart[e+1]) of the grouped order ({@code expertStart} int32 [E+1] as
     * {@link #groupByExpert} writes it): y[rows, out] = x[rows, in]·W_eᵀ, W_e BF16 [out, in] at the address
     * {@code weights[e]} ({@code weights}: device int64 [E]), x BF16 rows of {@code in} from {@code x}'s start, y rows
     * of {@code out} in {@code outputs}' type from {@code y}'s start, both in the grouped order. An expert of 0 rows
     * costs nothing. {@code mostRows} bounds every expert's count (a decode step's tokens: a token picks an expert
     * once); it sizes the launch. The same bits as {@link #groupedLinear} of those counts and addresses.
     */
    void groupedLinearRouted(DeviceBuffer expertStart, DeviceBuffer weights, int experts, DeviceBuffer x,
                             DeviceBuffer y, int out, int in, int mostRows, ExpertOutputs outputs);

    /**
     * Allocates now what {@link #groupedLinear} of up to {@code problems} experts keeps between calls (the device
     * arrays of its pointers), so that a run that reserves it before planning its memory counts it in the plan and no
     * product allocates in the middle of the run; held until the last open reservation is closed. A
     * {@code --gpu-memory} error when the bound has no room for it.
     */
    Reservation reserveGroupedProducts(int problems);

    /** Device memory held for a run until closed. */
    interface Reservation extends AutoCloseable {
        @Override
        void close();
    }

    /** Device bytes {@link #reserveGroupedProducts} takes for {@code problems} experts (a plan counts them). */
    static long groupedProductsBytes(int problems) {
        return PointerArrays.bytes(problems);
    }

    // ---- row-wise operations ------------------------------------------------------------------------------------

    /**
     * RMSNorm of {@code rows} rows of {@code width} elements, rows {@code stride} apart, into {@code dst} (same
     * layout; may be {@code src}): x · 1/sqrt(mean(x²) + eps) · weight (F32 weight [width]). Also the per-head
     * q/k norms ({@code rows} = tokens × heads, {@code width} = head dim).
     */
    void rmsNorm(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, int rows, int width, int stride,
                 DeviceBuffer weight, float eps);

    /**
     * RMSNorm in place of each of {@code heads} heads of {@code headDim} elements in {@code rows} rows (from element
     * {@code offset / 4} of each row, rows {@code rowStride} elements apart), every head with the same F32 weight
     * [headDim]: Qwen3's per-head q/k norms in one launch instead of one {@link #rmsNorm} per head. Each head is
     * normalised as {@link #rmsNorm} normalises a row (the same arithmetic, so the results are identical).
     */
    void rmsNormHeads(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride, DeviceBuffer weight,
                      float eps);

    /**
     * {@link #rmsNorm} of {@code rows} contiguous rows of {@code width} from {@code src} written in BF16 to
     * {@code dstBf16} (rounded to nearest even) and, unless {@code dstF32} is null, in F32 to {@code dstF32} too: one
     * pass for rmsNorm then {@link #toBf16}, with the same results.
     */
    void rmsNormBf16(DeviceBuffer src, DeviceBuffer dstF32, DeviceBuffer dstBf16, int rows, int width,
                     DeviceBuffer weight, float eps);

    /**
     * Rotary embedding in place on x: {@code rows} tokens, each with {@code heads} heads of {@code headDim} starting
     * at element {@code headOffset} of the token's row ({@code rowStride} elements long); the first {@code rotaryDim}
     * elements of each head (from {@code ropeOffset} within the head) rotate by angle positions[t]·invFreq[i]
     * (F32 [rotaryDim/2]), the result times {@code attentionScale} (yarn's mscale; 1 otherwise). Interleaved pairs
     * (x0,x1),(x2,x3)… when {@code interleaved}, else halves (x_i, x_{i+rotaryDim/2}).
     */
    void rope(DeviceBuffer x, long offset, int rows, int rowStride, int heads, int headDim, int ropeOffset,
              int rotaryDim, DeviceBuffer positions, DeviceBuffer invFreq, float attentionScale, boolean interleaved);

    /**
     * {@link #rmsNormHeads} then {@link #rope} of the same heads (rotated from each head's first element) in one pass
     * ({@code -Dmoeprune.fusedAttentionEpilogue}: Qwen3's per-head q/k norms): the same float operations in the same
     * order, so the same bits. This default calls the two (a decorator that does not forward it still computes the
     * same); HostOps and CudaOps do both per head in one go.
     */
    default void rmsNormHeadsRope(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                                  DeviceBuffer weight, float eps, DeviceBuffer positions, DeviceBuffer invFreq,
                                  int rotaryDim, float attentionScale, boolean interleaved) {
        rmsNormHeads(x, offset, rows, heads, headDim, rowStride, weight, eps);
        rope(x, offset, rows, rowStride, heads, headDim, 0, rotaryDim, positions, invFreq, attentionScale, interleaved);
    }

    /**
     * Causal attention over several sequences stored one after another: sequence s has tokens
     * [starts[s], starts[s+1]) (device int32 [sequences+1]) at positions 0…; q [T, heads, qkDim], k [T, kvHeads, qkDim],
     * v [T, kvHeads, vDim] (each with its own row stride and element offset, so they can be slices of one fused
     * projection), out [T, heads, vDim] contiguous. Query head h reads kv head h / (heads / kvHeads). Scores are
     * q·k·scale; a query at position i sees keys j ≤ i, and only i − j < window when {@code window} > 0;
     * {@code sinks} (F32 [heads], or null) adds exp(sink_h) to each softmax denominator (gpt-oss).
     */
    void attention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                   DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer starts, int sequences,
                   int tokens, int heads, int kvHeads, int qkDim, int vDim, float scale, int window, DeviceBuffer sinks);

    /**
     * {@link #attention} with its output rows written in BF16 to {@code outBf16} ([T, heads, vDim], each F32 value
     * rounded to nearest even once: the same bits as attention then {@link #toBf16}), the o_proj's input without a
     * pass over F32 rows ({@code -Dmoeprune.fusedAttentionEpilogue}). This default runs those two, {@code out} holding
     * the F32 rows between them; an implementation that writes BF16 itself may leave {@code out} alone.
     */
    default void attentionBf16(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                               DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer outBf16,
                               DeviceBuffer starts, int sequences, int tokens, int heads, int kvHeads, int qkDim,
                               int vDim, float scale, int window, DeviceBuffer sinks) {
        attention(q, qOffset, qStride, k, kOffset, kStride, v, vOffset, vStride, out, starts, sequences, tokens, heads,
                kvHeads, qkDim, vDim, scale, window, sinks);
        toBf16(out, outBf16, (long) tokens * heads * vDim);
    }

    /**
     * Device bytes {@link #attention} may allocate for itself (scratch) on sequences of up to {@code longest} tokens of
     * these shapes, which the caller's memory plan should leave free (0: none; HostOps needs none).
     */
    default long attentionScratchBytes(int longest, int heads, int kvHeads, int qkDim, int vDim) {
        return 0;
    }

    /**
     * Attention of {@code n} new queries of one sequence against its key/value cache (decoding): query i, at position
     * {@code past} + i, of q [n, heads, qkDim] (rows {@code qStride} apart) sees cache rows j ≤ past + i (and only
     * past + i − j < window when {@code window} > 0) of kCache [.., kvHeads, qkDim] and vCache [.., kvHeads, vDim]
     * (contiguous rows, the new queries' own keys and values already in them); out [n, heads, vDim] contiguous.
     * Scores, GQA heads and sinks as {@link #attention}.
     */
    void cachedAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer kCache, DeviceBuffer vCache,
                         DeviceBuffer out, int past, int n, int heads, int kvHeads, int qkDim, int vDim, float scale,
                         int window, DeviceBuffer sinks);

    /**
     * The gated activation: for each of n rows of gateUp [n, 2·width] = [gate | up], out_bf16[n, width] =
     * act(gate)·up' where act(g) = g·sigmoid(alpha·g) and up' = up (SwiGLU: alpha 1, limit 0, upShift 0); with
     * {@code limit} > 0 (gpt-oss), gate is first clamped to ≤ limit and up to [−limit, limit], and up' = up + upShift.
     */
    default void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit,
                                 float upShift) {
        gatedActivation(gateUp, out, n, width, alpha, limit, upShift, ExpertOutputs.F32);
    }

    /** {@link #gatedActivation} of gateUp rows in {@code in}'s type (BF16 widened exactly to F32 first). */
    void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit,
                         float upShift, ExpertOutputs in);

    /** x[i] += m·y[i] for i < count (the residual add; m the family's residual multiplier). */
    void addScaled(DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, long count, float m);

    /** Adds bias (F32 [width]) to each of {@code rows} rows of x (row stride {@code stride}). */
    void addBias(DeviceBuffer x, long offset, int rows, int width, int stride, DeviceBuffer bias);

    /**
     * A batched decode step's attention: n sequences, one new row each, each with its own cache. Row s of k and v
     * (strided as {@link #attention}'s) is first written to row positions[s] of sequence s's key and value caches, then
     * query row s attends to that sequence's rows j ≤ positions[s] (window and sinks as {@link #attention}).
     * {@code caches}: device int64 [n, 2], the addresses of sequence s's key cache [.., kvHeads, qkDim] and value cache
     * [.., kvHeads, vDim] (contiguous rows); {@code positions}: device int32 [n]; out [n, heads, vDim] contiguous.
     */
    void batchedDecodeAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                                DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer caches,
                                DeviceBuffer positions, int n, int heads, int kvHeads, int qkDim, int vDim,
                                float scale, int window, DeviceBuffer sinks);

    /**
     * Clamps {@code rows} rows of {@code width} elements (rows {@code stride} apart) to [−limit, limit] in place, as
     * Math.max(−limit, Math.min(limit, x)) (NaN stays NaN): OLMoE's clip_qkv.
     */
    void clamp(DeviceBuffer x, long offset, int rows, int width, int stride, float limit);

    /**
     * The device-side finite check of {@code count} (< 2³⁰) F32 elements from {@code offset}: flags[slot] (int32) =
     * max(flags[slot], 2·(count − i) + (x[i] is NaN ? 1 : 0)) over every non-finite x[i]. A zeroed flag stays 0 when
     * all are finite; otherwise count − flag/2 is the first non-finite element and flag's low bit says whether it is
     * a NaN (checks sharing a flag should share {@code count}).
     */
    void nonFinite(DeviceBuffer x, long offset, long count, DeviceBuffer flags, int slot);

    /** x[t, :] ·= sigmoid(gate[t]) for t < rows (Qwen2-MoE's gated shared expert); x [rows, width]. */
    void sigmoidGateRows(DeviceBuffer x, int rows, int width, DeviceBuffer gate);

    /**
     * A strided copy of a block of F32 elements: dst[r, dstCol + c] = src[r / srcRowDivisor, srcCol + c] for
     * r < rows, c < cols, rows {@code srcStride}/{@code dstStride} elements apart ({@code srcRowDivisor} > 1
     * repeats a source row: MLA's shared rope key for every head).
     */
    void copy2d(DeviceBuffer src, long srcOffset, int srcStride, int srcCol, DeviceBuffer dst, long dstOffset,
                int dstStride, int dstCol, int rows, int cols, int srcRowDivisor);

    // ---- embeddings ---------------------------------------------------------------------------------------------

    /**
     * The embeddings of {@code count} tokens (the CPU's {@code Model.embed}): dst[i, :] = table[ids[i], :] widened to
     * F32, times {@code multiplier} in float (not when it is 1), for i < count; rows of {@code width}, dst from
     * {@code dstOffset}. The table is BF16 [vocab, width] when {@code bf16}, else F32; ids int32 [count], each within
     * the table (the caller checks).
     */
    void embedRows(DeviceBuffer table, boolean bf16, DeviceBuffer ids, int count, int width, float multiplier,
                   DeviceBuffer dst, long dstOffset);

    // ---- next-token scores (perplexity and choice scoring: LayerMajorPass.Logits.SCORES) --------------------------

    /**
     * The next-token scores of {@code rows} rows of logits [rows, vocab] F32, each logit l divided by {@code divisor}
     * first, in float (as the CPU divides its logits; not when the divisor is 1 or 0). For row r: flags[r] (int32) =
     * 0 when every l of the row is finite, else 2·(vocab − i) + (l_i is NaN ? 1 : 0) of its first non-finite l_i
     * ({@link #nonFinite}'s flag of the row); where targets[r] (int32) ≥ 0 and the row is finite, nll[r] (F32) =
     * log Σ_i exp(l_i − m) + m − l[targets[r]] with m the row's largest l, the sum in double
     * ({@code runtime.TokenScores.nll}), and hits[r] (int32) = 1 when the lowest index holding m is targets[r], else
     * 0; where targets[r] is −1 or the row is not finite, nll[r] = 0 and hits[r] = 0.
     */
    void tokenScores(DeviceBuffer logits, int rows, int vocab, DeviceBuffer targets, float divisor, DeviceBuffer nll,
                     DeviceBuffer hits, DeviceBuffer flags);

    // ---- greedy next tokens (decode steps whose next token is the argmax) ----------------------------------------

    /**
     * The greedy next tokens of {@code rows} rows of logits [rows, vocab] F32, each logit divided by {@code divisor}
     * first as {@link #tokenScores} divides: flags[r] (int32) as tokenScores' (0 when the row is finite, else
     * 2·(vocab − i) + (NaN ? 1 : 0) of its first non-finite l_i); ids[r] (int32) = the lowest index of the row's
     * largest l ({@code Sampler.argmax}, a strict-> scan) when the row is finite, else −1. Nothing of the logits
     * comes back: a decode step downloads these 8 bytes a row.
     */
    void greedyTokens(DeviceBuffer logits, int rows, int vocab, float divisor, DeviceBuffer ids, DeviceBuffer flags);

    // ---- the MoE block ------------------------------------------------------------------------------------------

    /** dst_bf16[i, :] = src_f32[index[i], :] for i < count; rows of {@code width}. */
    void gatherRows(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width);

    /**
     * dst_bf16[i, :] = src_bf16[index[i], :] for i < count; rows of {@code width}: the experts' inputs copied from the
     * normalised BF16 rows (the same bits as {@link #gatherRows} of the F32 rows they were rounded from, half the
     * bytes read).
     */
    void gatherRowsBf16(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width);

    /**
     * out[t, :] = Σ_s weight[t·k + s]·expertRows[slotRow[t·k + s], :] summed in slot order s = 0…k−1 (deterministic),
     * for t < n; expertRows F32 [n·k, width] in the experts' order, weight F32 [n·k]; a slot with slotRow −1 (a masked
     * expert) adds nothing.
     */
    default void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out,
                              int n, int k, int width) {
        combineSlots(expertRows, slotRow, weight, out, n, k, width, ExpertOutputs.F32);
    }

    /** {@link #combineSlots} of expert rows in {@code rows}' type (BF16 widened exactly to F32 first). */
    void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out, int n,
                      int k, int width, ExpertOutputs rows);

    /** norms[i] = ‖expertRows[slotRow[i], :]‖₂ for i < count (0 for slotRow −1): EASY-EP's ‖e‖. */
    default void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width) {
        slotNorms(expertRows, slotRow, norms, count, width, ExpertOutputs.F32);
    }

    /** {@link #slotNorms} of expert rows in {@code rows}' type (BF16 widened exactly first). */
    void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width,
                   ExpertOutputs rows);

    /**
     * {@link #combineSlots} and then {@link #slotNorms} of the n·k slots (norms [n·k]) in one read of the expert rows
     * ({@code -Dmoeprune.fusedSlotNorms}): out bit-identical to combineSlots, norms to slotNorms up to the order of
     * their double sums. This default (HostOps) calls the two, so it equals them bit for bit.
     */
    default void combineSlotsWithNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight,
                                       DeviceBuffer out, int n, int k, int width, DeviceBuffer norms,
                                       ExpertOutputs rows) {
        combineSlots(expertRows, slotRow, weight, out, n, k, width, rows);
        slotNorms(expertRows, slotRow, norms, n * k, width, rows);
    }

    /**
     * The MoE block's epilogue in one read of each token's k slot rows ({@code -Dmoeprune.fusedEpilogue}): for t < n,
     * r_t = {@link #combineSlots}' row t (the same float operations: bit-identical), then x_t += m·(r_t + shared_t)
     * as {@link #addScaled} (shared_t = sharedRows [n, width] F32 added to r_t as addScaled with m 1 adds it; none
     * when null), then flags[flag] raised as {@link #nonFinite}(x, 0, n·width, flags, flag) over x's new values.
     * When {@code norms} is not null (a watched chunk; {@code turns} then too): norms [n·k] as {@link #slotNorms} and
     * turn [n] as {@link #turns}(x before the add, r): of the routed experts only, up to the order of their double
     * sums. {@code scratch} [n, width] F32: where this default, which composes those operations in that order (so
     * equals them bit for bit), keeps r; a fused implementation leaves it alone. Plain arguments, nothing else held.
     */
    default void moeEpilogue(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, int n, int k,
                             int width, ExpertOutputs rows, DeviceBuffer sharedRows, DeviceBuffer x, float m,
                             DeviceBuffer norms, DeviceBuffer turns, DeviceBuffer flags, int flag,
                             DeviceBuffer scratch) {
        long count = (long) n * width;
        combineSlots(expertRows, slotRow, weight, scratch, n, k, width, rows);
        if (norms != null) {
            slotNorms(expertRows, slotRow, norms, n * k, width, rows);
            turns(x, scratch, turns, n, width);
        }
        if (sharedRows != null) addScaled(scratch, 0, sharedRows, 0, count, 1f);
        addScaled(x, 0, scratch, 0, count, m);
        nonFinite(x, 0, count, flags, flag);
    }

    /**
     * turn[t] = max(0, 1 − cos(h_t, h_t + r_t)) for t < n (EASY-EP's s; 0 when either vector is 0), accumulated in
     * double precision or pairwise so it matches the CPU's double sums within 1e-6.
     */
    void turns(DeviceBuffer h, DeviceBuffer r, DeviceBuffer turn, int n, int width);

    // ---- routing on the device ------------------------------------------------------------------------------------

    /**
     * The CPU runtime's {@code Router} for n tokens: from logits F32 [n, E], token t's k chosen experts, best first,
     * into ids int32 [n·k] and their weights into weights F32 [n·k], the same ids and the same weight bits as
     * {@code Router.route} given the same logits (exp in double rounded to float, sums in expert order, ties to the
     * lower id). {@code selectionBias}: F32 [E] (DeepSeek-V3), or null; {@code kept}: int32 [E] flags (nonzero:
     * kept), or null for every expert, routed around by {@code strategy}. Needs {@link RoutingSpec#runsOnDevice}.
     */
    void route(RoutingSpec spec, GroupStrategy strategy, DeviceBuffer logits, int n, DeviceBuffer selectionBias,
               DeviceBuffer kept, DeviceBuffer ids, DeviceBuffer weights);

    /** Slots one tile of {@link #groupByExpert} takes (a warp walks them in order). */
    int GROUPING_TILE = 1024;

    /** Device bytes of {@link #groupByExpert}'s scratch for {@code slots} slots of {@code experts} experts. */
    static long groupingScratchBytes(long slots, int experts) {
        return 4L * experts * Math.max(1, (slots + GROUPING_TILE - 1) / GROUPING_TILE);
    }

    /**
     * The (token, slot) pairs grouped by expert, a stable counting sort of ids int32 [slots] (k slots a token):
     * expertStart int32 [E+1] (expert e's pairs are [expertStart[e], expertStart[e+1]) of the grouped order),
     * gatherRow int32 [slots] (the token of each grouped position, in token order within an expert) and slotRow
     * int32 [slots] (each slot's grouped position). {@code scratch}: {@link #groupingScratchBytes} bytes (per tile of
     * {@link #GROUPING_TILE} slots, its count of each expert, then where its pairs of each expert start).
     */
    void groupByExpert(DeviceBuffer ids, int slots, int k, int experts, DeviceBuffer scratch, DeviceBuffer expertStart,
                       DeviceBuffer gatherRow, DeviceBuffer slotRow);

    @Override
    void close();
}
