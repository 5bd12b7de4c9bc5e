package io.moeprune.gpu.ops;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.model.GroupStrategy;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link DeviceOps} that runs every operation on another and brackets each one queued on the compute stream with
 * two timing marks ({@link DeviceOps#timingMark}, the marks {@code GpuPhases} uses), tagged by a name that says what
 * it is: the operation and, for the products, the role its shape has in the model ({@link #role}: {@code linear qkv},
 * {@code grouped gate|up}, {@code linear_f32 router}), else its shape ({@code linear 2048→4096}). Nothing waits while
 * the marks are recorded; {@link #profile} reads them once, after the run's synchronisation. The per-operation profile
 * of a prefill ({@code -Dmoeprune.gpuOps=true}): where a phase's time goes, kernel by kernel, and how long the stream
 * idles between two operations (the host's stalls). The download stream's copies (the observers') are timed on that
 * stream, in a profile of their own ({@link StreamProfiles#download}): they are not the compute stream's operations
 * nor its gaps. Fences, the copy stream's work and the memory bookkeeping pass through untimed. Not thread-safe: the
 * pass's thread queues the streams' work.
 */
public final class ProfiledOps implements DeviceOps {
    /** Whether a prefill profiles its operations ({@code -Dmoeprune.gpuOps=true}); off, nothing is wrapped. */
    public static final boolean ON = Boolean.getBoolean("moeprune.gpuOps");

    /** One operation on the compute stream: its name and its marks before and after. */
    private record Span(String name, long from, long to) {
    }

    /** The profiles of one run: the compute stream's operations, and the download stream's copies. */
    public record StreamProfiles(OpProfile compute, OpProfile download) {
    }

    private final DeviceOps ops;
    private final List<Span> spans = new ArrayList<>();
    /** The download stream's copies, marked on that stream. */
    private final List<Span> downloadSpans = new ArrayList<>();
    /** Role names of products by their kind and shape ({@link #shapeKey}). */
    private final Map<String, String> roles = new HashMap<>();

    public ProfiledOps(DeviceOps ops) {
        this.ops = ops;
    }

    /** The operations it runs on. */
    public DeviceOps inner() {
        return ops;
    }

    /**
     * Names the products of kind {@code op} ({@code linear}, {@code linear_f32}, {@code grouped}) from {@code in} to
     * {@code out} columns {@code role}; a shape with several roles (k_proj and v_proj of GQA) gets them joined by
     * {@code /}.
     */
    public ProfiledOps role(String op, int in, int out, String role) {
        roles.merge(shapeKey(op, in, out), role, (a, b) -> a.equals(b) || a.contains(b) ? a : a + "/" + b);
        return this;
    }

    /** Forgets the operations timed so far and the roles (a new run's profile starts here). */
    public ProfiledOps clear() {
        spans.clear();
        downloadSpans.clear();
        roles.clear();
        return this;
    }

    /**
     * The profiles of everything timed since {@link #clear}, a stream each; waits for the last marks, then releases
     * the marks ({@link DeviceOps#releaseMarks}: the next run's reuse their events) and forgets them.
     */
    public StreamProfiles profile() {
        return new StreamProfiles(profileOf(spans), profileOf(downloadSpans));
    }

    private OpProfile profileOf(List<Span> stream) {
        long[] from = stream.stream().mapToLong(s -> s.from).toArray();
        long[] to = stream.stream().mapToLong(s -> s.to).toArray();
        OpProfile profile = OpProfile.of(stream.stream().map(s -> s.name).toList(), from, to, ops::elapsedSeconds);
        ops.releaseMarks(from);
        ops.releaseMarks(to);
        stream.clear();
        return profile;
    }

    private static String shapeKey(String op, int in, int out) {
        return op + " " + in + "→" + out;
    }

    private String product(String op, int in, int out) {
        String key = shapeKey(op, in, out);
        String role = roles.get(key);
        return role == null ? key : op + " " + role;
    }

    private void timed(String name, Runnable op) {
        long from = ops.timingMark(false);
        op.run();
        spans.add(new Span(name, from, ops.timingMark(false)));
    }

    // ---- untimed: memory, fences, the copy stream, the marks themselves ------------------------------------------

    @Override
    public DeviceBuffer alloc(long bytes, String what) {
        return ops.alloc(bytes, what);
    }

    @Override
    public void free(DeviceBuffer buffer) {
        ops.free(buffer);
    }

    @Override
    public void synchronize() {
        ops.synchronize();
    }

    @Override
    public MemorySegment pinnedHost(long bytes) {
        return ops.pinnedHost(bytes);
    }

    @Override
    public void releasePinned(MemorySegment host) {
        ops.releasePinned(host);
    }

    @Override
    public void uploadOnCopyStream(MemorySegment host, DeviceBuffer dst, long offset) {
        ops.uploadOnCopyStream(host, dst, offset);
    }

    @Override
    public long copyFence() {
        return ops.copyFence();
    }

    @Override
    public long computeFence() {
        return ops.computeFence();
    }

    @Override
    public void computeWaits(long fence) {
        ops.computeWaits(fence);
    }

    @Override
    public void copyWaits(long fence) {
        ops.copyWaits(fence);
    }

    @Override
    public void hostWaits(long fence) {
        ops.hostWaits(fence);
    }

    @Override
    public long timingMark(boolean copyStream) {
        return ops.timingMark(copyStream);
    }

    @Override
    public double elapsedSeconds(long from, long to) {
        return ops.elapsedSeconds(from, to);
    }

    @Override
    public void releaseMarks(long[] marks) {
        ops.releaseMarks(marks);
    }

    @Override
    public long allocatedBytes() {
        return ops.allocatedBytes();
    }

    @Override
    public Reservation reserveGroupedProducts(int problems) {
        return ops.reserveGroupedProducts(problems);
    }

    @Override
    public long peakBytes() {
        return ops.peakBytes();
    }

    @Override
    public long attentionScratchBytes(int longest, int heads, int kvHeads, int qkDim, int vDim) {
        return ops.attentionScratchBytes(longest, heads, kvHeads, qkDim, vDim);
    }

    // ---- the download stream: its copies timed on it, fences and marks untimed -------------------------------------

    @Override
    public void downloadOnDownloadStream(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        long from = ops.downloadTimingMark();
        ops.downloadOnDownloadStream(src, offset, pinnedHost);
        downloadSpans.add(new Span("download_queued", from, ops.downloadTimingMark()));
    }

    @Override
    public long downloadFence() {
        return ops.downloadFence();
    }

    @Override
    public void downloadWaits(long fence) {
        ops.downloadWaits(fence);
    }

    @Override
    public long downloadTimingMark() {
        return ops.downloadTimingMark();
    }

    /** Closes nothing: the ops it wraps belong to whoever made them. */
    @Override
    public void close() {
    }

    // ---- timed: the compute stream's copies ---------------------------------------------------------------------

    @Override
    public void upload(MemorySegment host, DeviceBuffer dst, long offset) {
        timed("upload", () -> ops.upload(host, dst, offset));
    }

    @Override
    public void download(DeviceBuffer src, long offset, MemorySegment host) {
        timed("download (waits)", () -> ops.download(src, offset, host));
    }

    @Override
    public void downloadQueued(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        timed("download_queued", () -> ops.downloadQueued(src, offset, pinnedHost));
    }

    @Override
    public void zero(DeviceBuffer buffer, long offset, long bytes) {
        timed("zero", () -> ops.zero(buffer, offset, bytes));
    }

    // ---- timed: kernels and products ----------------------------------------------------------------------------

    @Override
    public void toBf16(DeviceBuffer src, DeviceBuffer dst, long count) {
        timed("to_bf16", () -> ops.toBf16(src, dst, count));
    }

    @Override
    public void dequantFp8Blocks(DeviceBuffer src, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols,
                                 int block) {
        timed("dequant_fp8", () -> ops.dequantFp8Blocks(src, scales, dst, rows, cols, block));
    }

    @Override
    public void dequantMxfp4(DeviceBuffer blocks, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols) {
        timed("dequant_mxfp4", () -> ops.dequantMxfp4(blocks, scales, dst, rows, cols));
    }

    @Override
    public void linear(int n, int out, int in, DeviceBuffer w, long wOffset, DeviceBuffer x, long xOffset,
                       DeviceBuffer y, long yOffset, int ldy, boolean accumulate) {
        timed(product("linear", in, out),
                () -> ops.linear(n, out, in, w, wOffset, x, xOffset, y, yOffset, ldy, accumulate));
    }

    @Override
    public void linearF32(int n, int out, int in, DeviceBuffer w, DeviceBuffer x, DeviceBuffer y) {
        timed(product("linear_f32", in, out), () -> ops.linearF32(n, out, in, w, x, y));
    }

    @Override
    public void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        timed(product("grouped", in, out), () -> ops.groupedLinear(rows, out, in, w, x, y, outputs));
    }

    @Override
    public void groupedLinearRouted(DeviceBuffer expertStart, DeviceBuffer weights, int experts, DeviceBuffer x,
                                    DeviceBuffer y, int out, int in, int mostRows, ExpertOutputs outputs) {
        timed(product("grouped", in, out), () -> ops.groupedLinearRouted(expertStart, weights, experts, x, y, out, in,
                mostRows, outputs));
    }

    @Override
    public void rmsNorm(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, int rows, int width,
                        int stride, DeviceBuffer weight, float eps) {
        timed("rms_norm", () -> ops.rmsNorm(src, srcOffset, dst, dstOffset, rows, width, stride, weight, eps));
    }

    @Override
    public void rmsNormHeads(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                             DeviceBuffer weight, float eps) {
        timed("rms_norm_heads", () -> ops.rmsNormHeads(x, offset, rows, heads, headDim, rowStride, weight, eps));
    }

    @Override
    public void rmsNormBf16(DeviceBuffer src, DeviceBuffer dstF32, DeviceBuffer dstBf16, int rows, int width,
                            DeviceBuffer weight, float eps) {
        timed(dstF32 == null ? "rms_norm_bf16" : "rms_norm_bf16+f32",
                () -> ops.rmsNormBf16(src, dstF32, dstBf16, rows, width, weight, eps));
    }

    @Override
    public void rope(DeviceBuffer x, long offset, int rows, int rowStride, int heads, int headDim, int ropeOffset,
                     int rotaryDim, DeviceBuffer positions, DeviceBuffer invFreq, float attentionScale,
                     boolean interleaved) {
        timed("rope", () -> ops.rope(x, offset, rows, rowStride, heads, headDim, ropeOffset, rotaryDim, positions,
                invFreq, attentionScale, interleaved));
    }

    @Override
    public void attention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                          DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer starts,
                          int sequences, int tokens, int heads, int kvHeads, int qkDim, int vDim, float scale,
                          int window, DeviceBuffer sinks) {
        timed("attention", () -> ops.attention(q, qOffset, qStride, k, kOffset, kStride, v, vOffset, vStride, out,
                starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks));
    }

    // Forwarded, not inherited, as moeEpilogue: the defaults would run (and profile) the unfused operations.
    @Override
    public void attentionBf16(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                              DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer outBf16,
                              DeviceBuffer starts, int sequences, int tokens, int heads, int kvHeads, int qkDim,
                              int vDim, float scale, int window, DeviceBuffer sinks) {
        timed("attention (BF16 rows)", () -> ops.attentionBf16(q, qOffset, qStride, k, kOffset, kStride, v, vOffset,
                vStride, out, outBf16, starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks));
    }

    @Override
    public void rmsNormHeadsRope(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                                 DeviceBuffer weight, float eps, DeviceBuffer positions, DeviceBuffer invFreq,
                                 int rotaryDim, float attentionScale, boolean interleaved) {
        timed("rms_norm_heads_rope", () -> ops.rmsNormHeadsRope(x, offset, rows, heads, headDim, rowStride, weight,
                eps, positions, invFreq, rotaryDim, attentionScale, interleaved));
    }

    @Override
    public void cachedAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer kCache, DeviceBuffer vCache,
                                DeviceBuffer out, int past, int n, int heads, int kvHeads, int qkDim, int vDim,
                                float scale, int window, DeviceBuffer sinks) {
        timed("cached_attention", () -> ops.cachedAttention(q, qOffset, qStride, kCache, vCache, out, past, n, heads,
                kvHeads, qkDim, vDim, scale, window, sinks));
    }

    @Override
    public void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit,
                                float upShift, ExpertOutputs in) {
        timed("gated_activation", () -> ops.gatedActivation(gateUp, out, n, width, alpha, limit, upShift, in));
    }

    @Override
    public void addScaled(DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, long count, float m) {
        timed("add_scaled", () -> ops.addScaled(x, xOffset, y, yOffset, count, m));
    }

    @Override
    public void addBias(DeviceBuffer x, long offset, int rows, int width, int stride, DeviceBuffer bias) {
        timed("add_bias", () -> ops.addBias(x, offset, rows, width, stride, bias));
    }

    @Override
    public void batchedDecodeAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset,
                                       int kStride, DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out,
                                       DeviceBuffer caches, DeviceBuffer positions, int n, int heads, int kvHeads,
                                       int qkDim, int vDim, float scale, int window, DeviceBuffer sinks) {
        timed("batched_decode_attention", () -> ops.batchedDecodeAttention(q, qOffset, qStride, k, kOffset, kStride,
                v, vOffset, vStride, out, caches, positions, n, heads, kvHeads, qkDim, vDim, scale, window, sinks));
    }

    @Override
    public void clamp(DeviceBuffer x, long offset, int rows, int width, int stride, float limit) {
        timed("clamp", () -> ops.clamp(x, offset, rows, width, stride, limit));
    }

    @Override
    public void nonFinite(DeviceBuffer x, long offset, long count, DeviceBuffer flags, int slot) {
        timed("non_finite", () -> ops.nonFinite(x, offset, count, flags, slot));
    }

    @Override
    public void sigmoidGateRows(DeviceBuffer x, int rows, int width, DeviceBuffer gate) {
        timed("sigmoid_gate_rows", () -> ops.sigmoidGateRows(x, rows, width, gate));
    }

    @Override
    public void copy2d(DeviceBuffer src, long srcOffset, int srcStride, int srcCol, DeviceBuffer dst, long dstOffset,
                       int dstStride, int dstCol, int rows, int cols, int srcRowDivisor) {
        timed("copy2d", () -> ops.copy2d(src, srcOffset, srcStride, srcCol, dst, dstOffset, dstStride, dstCol, rows,
                cols, srcRowDivisor));
    }

    @Override
    public void embedRows(DeviceBuffer table, boolean bf16, DeviceBuffer ids, int count, int width, float multiplier,
                          DeviceBuffer dst, long dstOffset) {
        timed("embed_rows", () -> ops.embedRows(table, bf16, ids, count, width, multiplier, dst, dstOffset));
    }

    @Override
    public void tokenScores(DeviceBuffer logits, int rows, int vocab, DeviceBuffer targets, float divisor,
                            DeviceBuffer nll, DeviceBuffer hits, DeviceBuffer flags) {
        timed("token_scores", () -> ops.tokenScores(logits, rows, vocab, targets, divisor, nll, hits, flags));
    }

    @Override
    public void greedyTokens(DeviceBuffer logits, int rows, int vocab, float divisor, DeviceBuffer ids,
                             DeviceBuffer flags) {
        timed("greedy_tokens", () -> ops.greedyTokens(logits, rows, vocab, divisor, ids, flags));
    }

    @Override
    public void gatherRows(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        timed("gather_rows", () -> ops.gatherRows(src, index, dst, count, width));
    }

    @Override
    public void gatherRowsBf16(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        timed("gather_rows_bf16", () -> ops.gatherRowsBf16(src, index, dst, count, width));
    }

    @Override
    public void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out,
                             int n, int k, int width, ExpertOutputs rows) {
        timed("combine_slots", () -> ops.combineSlots(expertRows, slotRow, weight, out, n, k, width, rows));
    }

    @Override
    public void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width,
                          ExpertOutputs rows) {
        timed("slot_norms", () -> ops.slotNorms(expertRows, slotRow, norms, count, width, rows));
    }

    @Override
    public void combineSlotsWithNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight,
                                      DeviceBuffer out, int n, int k, int width, DeviceBuffer norms,
                                      ExpertOutputs rows) {
        timed("combine_slots_with_norms",
                () -> ops.combineSlotsWithNorms(expertRows, slotRow, weight, out, n, k, width, norms, rows));
    }

    @Override
    public void moeEpilogue(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, int n, int k,
                            int width, ExpertOutputs rows, DeviceBuffer sharedRows, DeviceBuffer x, float m,
                            DeviceBuffer norms, DeviceBuffer turns, DeviceBuffer flags, int flag,
                            DeviceBuffer scratch) {
        // Forwarded, not inherited: the interface's default would run the unfused operations instead of the kernel.
        timed(norms != null ? "moe_epilogue watched" : "moe_epilogue", () -> ops.moeEpilogue(expertRows, slotRow,
                weight, n, k, width, rows, sharedRows, x, m, norms, turns, flags, flag, scratch));
    }

    @Override
    public void turns(DeviceBuffer h, DeviceBuffer r, DeviceBuffer turn, int n, int width) {
        timed("turns", () -> ops.turns(h, r, turn, n, width));
    }

    @Override
    public void route(RoutingSpec spec, GroupStrategy strategy, DeviceBuffer logits, int n, DeviceBuffer selectionBias,
                      DeviceBuffer kept, DeviceBuffer ids, DeviceBuffer weights) {
        timed("route", () -> ops.route(spec, strategy, logits, n, selectionBias, kept, ids, weights));
    }

    @Override
    public void groupByExpert(DeviceBuffer ids, int slots, int k, int experts, DeviceBuffer scratch,
                              DeviceBuffer expertStart, DeviceBuffer gatherRow, DeviceBuffer slotRow) {
        timed("group_by_expert",
                () -> ops.groupByExpert(ids, slots, k, experts, scratch, expertStart, gatherRow, slotRow));
    }
}
