package io.moeprune.gpu.ops;

import io.moeprune.gpu.BufferCache;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.model.GroupStrategy;
import io.moeprune.runtime.Sampler;
import io.moeprune.runtime.TokenScores;
import io.moeprune.safetensors.Fp4;
import io.moeprune.safetensors.Fp8;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * {@link DeviceOps} in plain Java on host memory: the reference every CUDA kernel is checked against on the GPU
 * machine, and the "device" CI runs the GPU runtime on (no GPU there). Sums are in double, so it is the more exact
 * of the two; the GPU must match it within the tolerances of its tests. Not fast: for tests and small models.
 */
public final class HostOps implements DeviceOps {
    /** All of memory, addressed absolutely (DeviceBuffer addresses are native addresses here). */
    private static final MemorySegment MEMORY = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private final Arena arena = Arena.ofShared();
    private final long limit;
    /** Cached as GpuDevice caches (the same bound and reuse); the arena keeps released bytes until close. */
    private final BufferCache memory;
    private final BufferCache pinnedMemory;
    private final Map<Long, MemorySegment> pinned = new HashMap<>();
    /** As CudaOps's grouped products keep them: the same bytes against the bound, though nothing reads them here. */
    private final PointerArrays pointerArrays = new PointerArrays(this);
    /** Queued downloads not yet landed (only when {@link #deferQueuedCopies}), in queue order. */
    private final List<PendingCopy> pendingCopies = new ArrayList<>();
    private boolean deferQueuedCopies;
    private long fences;
    private Rounding rounding = Rounding.PRODUCTS;
    /**
     * Where a part's BF16 rounding is off: each device allocation's F32 twin (by its address), in which every BF16
     * activation write also lands, exact or rounded as {@link #rounding} says, and which the products read.
     */
    private final TreeMap<Long, MemorySegment> shadows = new TreeMap<>();

    /**
     * Which of the GPU's BF16 roundings HostOps reproduces (issue 22: which part's precision moves the calibration
     * statistics). {@code projections}: the inputs of {@link #linear} (written by toBf16 and rmsNormBf16: the attention
     * projections, MLA's, a shared expert's or dense MLP's gate/up, the LM head). {@code experts}: the rows gathered
     * for the experts, the gated activations (experts', shared experts', dense MLPs') and BF16 expert outputs.
     * {@code attention}: Q, K, V and the probabilities P rounded to BF16 in {@link #attention} as the flash kernel
     * does (its row sums stay F32). Products always read BF16 weights and sum exactly (in double).
     */
    public record Rounding(boolean projections, boolean experts, boolean attention) {
        /** What HostOps did before the switch, and does by default: products' inputs rounded, attention exact. */
        public static final Rounding PRODUCTS = new Rounding(true, true, false);
        /** The GPU's numerics as CudaOps runs them by default (flash attention with BF16 Q, K, V and P). */
        public static final Rounding GPU = new Rounding(true, true, true);
        /** Every activation in F32 (products still sum BF16 weights): the CPU's numerics. */
        public static final Rounding NONE = new Rounding(false, false, false);

        boolean shadowed() {
            return !projections || !experts;
        }
    }

    /** A queued download's bytes, read in stream order, written into its host memory when its fence is waited on. */
    private record PendingCopy(byte[] bytes, MemorySegment into, long fence) {
    }

    /** Host "device" memory bounded by {@code limit} bytes (the {@code --gpu-memory} of the emulated device). */
    public HostOps(long limit) {
        this(limit, Long.MAX_VALUE);
    }

    /** ... with at most {@code pinnedCache} bytes of released pinned memory kept for reuse (tests of the cap). */
    public HostOps(long limit, long pinnedCache) {
        this.limit = limit;
        this.memory = new BufferCache(bytes -> arena.allocate(bytes, 256).address(), address -> { }, limit,
                Long.MAX_VALUE);
        this.pinnedMemory = new BufferCache(bytes -> {
            MemorySegment s = arena.allocate(bytes, 256);
            pinned.put(s.address(), s);
            return s.address();
        }, pinned::remove, Long.MAX_VALUE, pinnedCache);
    }

    /** Sets which BF16 roundings to reproduce ({@link Rounding}); before the first allocation. */
    public synchronized HostOps rounding(Rounding rounding) {
        if (memory.allocations() > 0) throw new IllegalStateException("rounding set after an allocation");
        this.rounding = rounding;
        return this;
    }

    /**
     * From now on {@link #downloadQueued} reads its bytes at once (stream order) but writes them into the host memory
     * only when a fence after it is waited on ({@link #hostWaits}, {@link #synchronize}) or an upload reads that
     * memory; until then the memory holds poison. As a GPU may: a reader that does not wait for the fence shows up
     * (tests of the queued downloads).
     */
    public HostOps deferQueuedCopies() {
        synchronized (pendingCopies) {
            deferQueuedCopies = true;
        }
        return this;
    }

    @Override
    public synchronized DeviceBuffer alloc(long bytes, String what) {
        if (bytes <= 0) throw new IllegalArgumentException("bytes " + bytes);
        long rounded = (bytes + 255) & ~255L;
        Long address = memory.take(rounded);
        if (address == null) throw GpuDevice.boundExceeded(limit, what, rounded, memory.inUse());
        // Fresh (or reused) device memory is not zero: poison it so a kernel that reads what nothing wrote shows up.
        MEMORY.asSlice(address, rounded).fill((byte) 0x7F);
        if (rounding.shadowed()) {
            MemorySegment twin = shadows.get(address);
            if (twin == null || twin.byteSize() < 2 * rounded) shadows.put(address, arena.allocate(2 * rounded, 256));
        }
        return new DeviceBuffer(address, bytes);
    }

    @Override
    public synchronized void free(DeviceBuffer buffer) {
        if (buffer == null) return;
        memory.give(buffer.address());
    }

    /** Device bytes kept for reuse (counted against the bound, not in {@link #allocatedBytes}). */
    public synchronized long cachedBytes() {
        return memory.cachedBytes();
    }

    /** New device buffers so far (ones served from the cache not counted). */
    public synchronized long deviceAllocations() {
        return memory.allocations();
    }

    /** New pinned buffers so far, and pinned bytes kept for reuse. */
    public synchronized long pinnedAllocations() {
        return pinnedMemory.allocations();
    }

    public synchronized long pinnedCachedBytes() {
        return pinnedMemory.cachedBytes();
    }

    @Override
    public void upload(MemorySegment host, DeviceBuffer dst, long offset) {
        check(dst, offset, host.byteSize());
        landOverlapping(host);
        MemorySegment.copy(host, 0, MEMORY, dst.address() + offset, host.byteSize());
    }

    @Override
    public void download(DeviceBuffer src, long offset, MemorySegment host) {
        check(src, offset, host.byteSize());
        MemorySegment.copy(MEMORY, src.address() + offset, host, 0, host.byteSize());
    }

    @Override
    public void downloadQueued(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        synchronized (pendingCopies) {
            if (deferQueuedCopies) {
                check(src, offset, pinnedHost.byteSize());
                byte[] bytes = MEMORY.asSlice(src.address() + offset, pinnedHost.byteSize()).toArray(JAVA_BYTE);
                pinnedHost.fill((byte) 0x7F);
                pendingCopies.add(new PendingCopy(bytes, pinnedHost, fences + 1));
                return;
            }
        }
        download(src, offset, pinnedHost);
    }

    /** Lands the deferred copies that the fence {@code upTo} follows (all for Long.MAX_VALUE). */
    private void land(long upTo) {
        synchronized (pendingCopies) {
            pendingCopies.removeIf(c -> {
                if (c.fence() > upTo) return false;
                MemorySegment.copy(c.bytes(), 0, c.into(), JAVA_BYTE, 0, c.bytes().length);
                return true;
            });
        }
    }

    /** Lands the deferred copies into {@code host}'s bytes, in order (an upload of them sees them, in stream order). */
    private void landOverlapping(MemorySegment host) {
        synchronized (pendingCopies) {
            if (pendingCopies.isEmpty()) return;
            long from = host.address(), to = from + host.byteSize();
            pendingCopies.removeIf(c -> {
                if (c.into().address() >= to || c.into().address() + c.into().byteSize() <= from) return false;
                MemorySegment.copy(c.bytes(), 0, c.into(), JAVA_BYTE, 0, c.bytes().length);
                return true;
            });
        }
    }

    @Override
    public void zero(DeviceBuffer buffer, long offset, long bytes) {
        check(buffer, offset, bytes);
        MEMORY.asSlice(buffer.address() + offset, bytes).fill((byte) 0);
    }

    private static void check(DeviceBuffer b, long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > b.bytes()) {
            throw new IndexOutOfBoundsException(bytes + " bytes at " + offset + " of a buffer of " + b.bytes());
        }
    }

    @Override
    public void synchronize() {
        land(Long.MAX_VALUE);
    }

    @Override
    public synchronized MemorySegment pinnedHost(long bytes) {
        long rounded = (Math.max(1, bytes) + 255) & ~255L;
        return pinned.get(pinnedMemory.take(rounded)).asSlice(0, bytes);
    }

    @Override
    public synchronized void releasePinned(MemorySegment host) {
        landOverlapping(host);   // a deferred copy lands before the memory is reused, as the GPU drains before it
        pinnedMemory.give(host.address());
    }

    @Override
    public void uploadOnCopyStream(MemorySegment host, DeviceBuffer dst, long offset) {
        upload(host, dst, offset);   // lands deferred copies into host first
    }

    @Override
    public long copyFence() {
        return 0;
    }

    /** A fence: numbered (deferred copies land at the fence after them), else trivially passed. */
    @Override
    public long computeFence() {
        synchronized (pendingCopies) {
            return ++fences;
        }
    }

    @Override
    public void computeWaits(long fence) {
    }

    @Override
    public void copyWaits(long fence) {
    }

    @Override
    public void hostWaits(long fence) {
        land(fence);
    }

    /** The host's clock: everything queued before has already run. */
    @Override
    public long timingMark(boolean copyStream) {
        return System.nanoTime();
    }

    @Override
    public double elapsedSeconds(long from, long to) {
        return (to - from) / 1e9;
    }

    @Override
    public synchronized long allocatedBytes() {
        return memory.inUse();
    }

    @Override
    public synchronized long peakBytes() {
        return memory.peak();
    }

    // ---- the download stream: everything has run already, so its order is trivially kept -------------------------

    /** As {@link #downloadQueued}: deferred copies land at the download fence after them. */
    @Override
    public void downloadOnDownloadStream(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        downloadQueued(src, offset, pinnedHost);
    }

    /** Numbered with the compute stream's fences: a deferred copy lands when the fence after it is waited on. */
    @Override
    public long downloadFence() {
        return computeFence();
    }

    @Override
    public void downloadWaits(long fence) {
    }

    @Override
    public long downloadTimingMark() {
        return System.nanoTime();
    }

    // ---- element access -----------------------------------------------------------------------------------------

    private static float f32(DeviceBuffer b, long index) {
        return MEMORY.get(JAVA_FLOAT_UNALIGNED, b.address() + 4 * index);
    }

    private static void f32(DeviceBuffer b, long index, float v) {
        MEMORY.set(JAVA_FLOAT_UNALIGNED, b.address() + 4 * index, v);
    }

    private static float bf16(DeviceBuffer b, long index) {
        return Float.intBitsToFloat((MEMORY.get(JAVA_SHORT_UNALIGNED, b.address() + 2 * index) & 0xFFFF) << 16);
    }

    /** Element {@code index} of expert rows of {@code type}, widened to F32 (exact for BF16). */
    private static float element(long shadow, DeviceBuffer b, ExpertOutputs type, long index) {
        return type == ExpertOutputs.BF16 ? bf16(shadow, b, index) : f32(b, index);
    }

    private static int i32(DeviceBuffer b, long index) {
        return MEMORY.get(JAVA_INT_UNALIGNED, b.address() + 4 * index);
    }

    private static byte u8(DeviceBuffer b, long index) {
        return MEMORY.get(JAVA_BYTE, b.address() + index);
    }

    /** BF16 bits of f, rounded to nearest even (NaN stays NaN). */
    public static short toBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    private static void bf16(DeviceBuffer b, long index, float v) {
        MEMORY.set(JAVA_SHORT_UNALIGNED, b.address() + 2 * index, toBf16Bits(v));
    }

    /** The F32 twin of BF16 element 0 of {@code b} (see {@link #shadows}), or 0 where every rounding is on. */
    private synchronized long shadow(DeviceBuffer b) {
        if (!rounding.shadowed()) return 0;
        Map.Entry<Long, MemorySegment> e = shadows.floorEntry(b.address());
        return e.getValue().address() + 2 * (b.address() - e.getKey());
    }

    /** Writes BF16 element {@code index} of b and, where shadowed, its twin: v itself when {@code exact}. */
    private static void bf16(long shadow, boolean exact, DeviceBuffer b, long index, float v) {
        bf16(b, index, v);
        if (shadow != 0) MEMORY.set(JAVA_FLOAT_UNALIGNED, shadow + 4 * index, exact ? v : roundBf16(v));
    }

    /** Reads BF16 element {@code index} of b: from its twin where shadowed. */
    private static float bf16(long shadow, DeviceBuffer b, long index) {
        return shadow != 0 ? MEMORY.get(JAVA_FLOAT_UNALIGNED, shadow + 4 * index) : bf16(b, index);
    }

    /** v rounded to the nearest BF16 (even on ties). */
    private static float roundBf16(float v) {
        return Float.intBitsToFloat((toBf16Bits(v) & 0xFFFF) << 16);
    }

    /** A device buffer of bytes at an offset: the byte offsets of the interface are element offsets here. */
    private static DeviceBuffer at(DeviceBuffer b, long byteOffset) {
        return new DeviceBuffer(b.address() + byteOffset, b.bytes() - byteOffset);
    }

    // ---- conversions --------------------------------------------------------------------------------------------

    @Override
    public void toBf16(DeviceBuffer src, DeviceBuffer dst, long count) {
        long twin = shadow(dst);
        for (long i = 0; i < count; i++) bf16(twin, !rounding.projections(), dst, i, f32(src, i));
    }

    @Override
    public void dequantFp8Blocks(DeviceBuffer src, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols, int block) {
        int scaleCols = (cols + block - 1) / block;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float s = f32(scales, (long) (r / block) * scaleCols + c / block);
                bf16(dst, (long) r * cols + c, Fp8.e4m3ToFloat(u8(src, (long) r * cols + c)) * s);
            }
        }
    }

    @Override
    public void dequantMxfp4(DeviceBuffer blocks, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols) {
        int groups = cols / 32;
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                float s = Fp4.e8m0ToFloat(u8(scales, (long) r * groups + g));
                for (int j = 0; j < 16; j++) {
                    int b = u8(blocks, ((long) r * groups + g) * 16 + j) & 0xFF;
                    long c = (long) r * cols + g * 32L + 2L * j;
                    bf16(dst, c, Fp4.e2m1ToFloat(b & 0xF) * s);
                    bf16(dst, c + 1, Fp4.e2m1ToFloat(b >>> 4) * s);
                }
            }
        }
    }

    // ---- matrix products ----------------------------------------------------------------------------------------

    @Override
    public void linear(int n, int out, int in, DeviceBuffer w, long wOffset, DeviceBuffer x, long xOffset,
                       DeviceBuffer y, long yOffset, int ldy, boolean accumulate) {
        DeviceBuffer W = at(w, wOffset), X = at(x, xOffset), Y = at(y, yOffset);
        long xTwin = shadow(X);
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                // The product rounded to F32, then y + product in float: cuBLAS's epilogue (alpha·acc + beta·y with
                // alpha = beta = 1), and the bits of the product into a buffer then addScaled(y, ·, 1).
                float product = (float) dot(0, W, X, xTwin, t, o, in);
                long at = (long) t * ldy + o;
                f32(Y, at, accumulate ? f32(Y, at) + product : product);
            }
        }
    }

    @Override
    public void linearF32(int n, int out, int in, DeviceBuffer w, DeviceBuffer x, DeviceBuffer y) {
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += (double) f32(w, (long) o * in + i) * f32(x, (long) t * in + i);
                f32(y, (long) t * out + o, (float) s);
            }
        }
    }

    @Override
    public void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        boolean any = false;
        for (int r : rows) any |= r > 0;
        if (any) pointerArrays.reserve(rows.length);   // where CudaOps's products need them (reserved: no-op)
        for (int p = 0; p < rows.length; p++) {
            if (rows[p] == 0) continue;
            DeviceBuffer W = new DeviceBuffer(w[p], 2L * out * in), X = new DeviceBuffer(x[p], 2L * rows[p] * in);
            DeviceBuffer Y = new DeviceBuffer(y[p], (long) outputs.bytes() * rows[p] * out);
            long xTwin = shadow(X), yTwin = outputs == ExpertOutputs.BF16 ? shadow(Y) : 0;
            for (int t = 0; t < rows[p]; t++) {
                for (int o = 0; o < out; o++) {
                    // The F32 result, then (BF16 outputs) rounded once more, as cuBLAS rounds its F32 accumulation.
                    float v = (float) dot(0, W, X, xTwin, t, o, in);
                    if (outputs == ExpertOutputs.BF16) bf16(yTwin, !rounding.experts(), Y, (long) t * out + o, v);
                    else f32(Y, (long) t * out + o, v);
                }
            }
        }
    }

    /** Reads the counts and addresses from its own memory, then {@link #groupedLinear}'s arithmetic: the same bits. */
    @Override
    public void groupedLinearRouted(DeviceBuffer expertStart, DeviceBuffer weights, int experts, DeviceBuffer x,
                                    DeviceBuffer y, int out, int in, int mostRows, ExpertOutputs outputs) {
        int[] start = ints(expertStart, experts + 1);
        check(weights, 0, 8L * experts);
        int[] rows = new int[experts];
        long[] w = new long[experts], xs = new long[experts], ys = new long[experts];
        for (int e = 0; e < experts; e++) {
            rows[e] = start[e + 1] - start[e];
            if (rows[e] < 0 || rows[e] > mostRows) {
                throw new IllegalStateException("expert " + e + ": " + rows[e] + " rows, beyond 0.." + mostRows);
            }
            w[e] = MEMORY.get(JAVA_LONG_UNALIGNED, weights.address() + 8L * e);
            xs[e] = x.address() + 2L * start[e] * in;
            ys[e] = y.address() + (long) outputs.bytes() * start[e] * out;
        }
        check(x, 0, 2L * start[experts] * in);
        check(y, 0, (long) outputs.bytes() * start[experts] * out);
        groupedLinear(rows, out, in, w, xs, ys, outputs);
    }

    @Override
    public Reservation reserveGroupedProducts(int problems) {
        return pointerArrays.hold(problems);
    }

    /**
     * start + Σ_i W[o, i]·X[t, i] of BF16 rows {@code in} long, summed in double from {@code start} in order; X read
     * from its twin {@code xTwin} where shadowed (0: not).
     */
    private static double dot(double start, DeviceBuffer W, DeviceBuffer X, long xTwin, int t, int o, int in) {
        double s = start;
        for (int i = 0; i < in; i++) s += (double) bf16(W, (long) o * in + i) * bf16(xTwin, X, (long) t * in + i);
        return s;
    }

    // ---- row-wise operations ------------------------------------------------------------------------------------

    @Override
    public void rmsNorm(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, int rows, int width,
                        int stride, DeviceBuffer weight, float eps) {
        DeviceBuffer S = at(src, srcOffset), D = at(dst, dstOffset);
        for (int r = 0; r < rows; r++) normRow(S, D, (long) r * stride, width, weight, eps);
    }

    @Override
    public void rmsNormHeads(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                             DeviceBuffer weight, float eps) {
        DeviceBuffer X = at(x, offset);
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                normRow(X, X, (long) r * rowStride + (long) h * headDim, headDim, weight, eps);
            }
        }
    }

    @Override
    public void rmsNormBf16(DeviceBuffer src, DeviceBuffer dstF32, DeviceBuffer dstBf16, int rows, int width,
                            DeviceBuffer weight, float eps) {
        long twin = shadow(dstBf16);
        for (int r = 0; r < rows; r++) {
            long base = (long) r * width;
            float inv = inverseRms(src, base, width, eps);
            for (int i = 0; i < width; i++) {
                float v = f32(weight, i) * (f32(src, base + i) * inv);
                if (dstF32 != null) f32(dstF32, base + i, v);
                bf16(twin, !rounding.projections(), dstBf16, base + i, v);
            }
        }
    }

    /** One RMSNorm'd row of {@code width} elements from element {@code base} of S into D (may be S). */
    private static void normRow(DeviceBuffer S, DeviceBuffer D, long base, int width, DeviceBuffer weight, float eps) {
        float inv = inverseRms(S, base, width, eps);
        for (int i = 0; i < width; i++) f32(D, base + i, f32(weight, i) * (f32(S, base + i) * inv));
    }

    /** 1/sqrt(mean(x²) + eps) of the row of {@code width} elements from element {@code base} of S. */
    private static float inverseRms(DeviceBuffer S, long base, int width, float eps) {
        double ss = 0;
        for (int i = 0; i < width; i++) {
            float v = f32(S, base + i);
            ss += v * v;
        }
        return (float) (1.0 / Math.sqrt((float) (ss / width) + eps));
    }

    @Override
    public void rope(DeviceBuffer x, long offset, int rows, int rowStride, int heads, int headDim, int ropeOffset,
                     int rotaryDim, DeviceBuffer positions, DeviceBuffer invFreq, float attentionScale,
                     boolean interleaved) {
        DeviceBuffer X = at(x, offset);
        for (int t = 0; t < rows; t++) {
            int pos = i32(positions, t);
            for (int h = 0; h < heads; h++) {
                ropeHead(X, (long) t * rowStride + (long) h * headDim + ropeOffset, rotaryDim, pos, invFreq,
                        attentionScale, interleaved);
            }
        }
    }

    /** Each head normalised, then rotated, before the next: the arithmetic of rmsNormHeads and rope, so their bits. */
    @Override
    public void rmsNormHeadsRope(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                                 DeviceBuffer weight, float eps, DeviceBuffer positions, DeviceBuffer invFreq,
                                 int rotaryDim, float attentionScale, boolean interleaved) {
        DeviceBuffer X = at(x, offset);
        for (int t = 0; t < rows; t++) {
            int pos = i32(positions, t);
            for (int h = 0; h < heads; h++) {
                long o = (long) t * rowStride + (long) h * headDim;
                normRow(X, X, o, headDim, weight, eps);
                ropeHead(X, o, rotaryDim, pos, invFreq, attentionScale, interleaved);
            }
        }
    }

    /** The first {@code rotaryDim} elements from element {@code o} of X rotated by position {@code pos}. */
    private static void ropeHead(DeviceBuffer X, long o, int rotaryDim, int pos, DeviceBuffer invFreq,
                                 float attentionScale, boolean interleaved) {
        int half = rotaryDim / 2;
        for (int i = 0; i < half; i++) {
            float angle = (float) pos * f32(invFreq, i);
            float c = (float) Math.cos(angle) * attentionScale, s = (float) Math.sin(angle) * attentionScale;
            long ia = interleaved ? o + 2L * i : o + i, ib = interleaved ? ia + 1 : o + half + i;
            float a = f32(X, ia), b = f32(X, ib);
            f32(X, ia, a * c - b * s);
            f32(X, ib, b * c + a * s);
        }
    }

    @Override
    public void attention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                          DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer starts,
                          int sequences, int tokens, int heads, int kvHeads, int qkDim, int vDim, float scale,
                          int window, DeviceBuffer sinks) {
        attendAll(q, qOffset, qStride, k, kOffset, kStride, v, vOffset, vStride, out, false, starts, sequences, heads,
                kvHeads, qkDim, vDim, scale, window, sinks);
    }

    /** Each output row rounded to BF16 as it is written: no F32 rows ({@code out} is not touched). */
    @Override
    public void attentionBf16(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                              DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer outBf16,
                              DeviceBuffer starts, int sequences, int tokens, int heads, int kvHeads, int qkDim,
                              int vDim, float scale, int window, DeviceBuffer sinks) {
        attendAll(q, qOffset, qStride, k, kOffset, kStride, v, vOffset, vStride, outBf16, true, starts, sequences,
                heads, kvHeads, qkDim, vDim, scale, window, sinks);
    }

    /** {@link #attention} into {@code out}'s F32 rows, or its BF16 rows when {@code bf16}. */
    private void attendAll(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset,
                           int kStride, DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out,
                           boolean bf16, DeviceBuffer starts, int sequences, int heads, int kvHeads, int qkDim,
                           int vDim, float scale, int window, DeviceBuffer sinks) {
        DeviceBuffer Q = at(q, qOffset), K = at(k, kOffset), V = at(v, vOffset);
        long outTwin = bf16 ? shadow(out) : 0;
        int group = heads / kvHeads;
        for (int s = 0; s < sequences; s++) {
            int from = i32(starts, s), to = i32(starts, s + 1);
            for (int t = from; t < to; t++) {
                int lo = window > 0 ? Math.max(from, t - window + 1) : from;
                for (int h = 0; h < heads; h++) {
                    int kh = h / group;
                    attendRow(Q, (long) t * qStride + (long) h * qkDim, K, (long) kh * qkDim, kStride, V,
                            (long) kh * vDim, vStride, lo, t, qkDim, vDim, scale, sinks == null ? null : f32(sinks, h),
                            out, ((long) t * heads + h) * vDim, bf16, outTwin, rounding.attention());
                }
            }
        }
    }

    @Override
    public void cachedAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer kCache, DeviceBuffer vCache,
                                DeviceBuffer out, int past, int n, int heads, int kvHeads, int qkDim, int vDim,
                                float scale, int window, DeviceBuffer sinks) {
        DeviceBuffer Q = at(q, qOffset);
        int group = heads / kvHeads;
        boolean bf16 = rounding.attention();
        for (int i = 0; i < n; i++) {
            int t = past + i, lo = window > 0 ? Math.max(0, t - window + 1) : 0;
            for (int h = 0; h < heads; h++) {
                int kh = h / group;
                attendRow(Q, (long) i * qStride + (long) h * qkDim, kCache, (long) kh * qkDim, kvHeads * qkDim,
                        vCache, (long) kh * vDim, kvHeads * vDim, lo, t, qkDim, vDim, scale,
                        sinks == null ? null : f32(sinks, h), out, ((long) i * heads + h) * vDim, false, 0, bf16);
            }
        }
    }

    @Override
    public void batchedDecodeAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset,
                                       int kStride, DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out,
                                       DeviceBuffer caches, DeviceBuffer positions, int n, int heads, int kvHeads,
                                       int qkDim, int vDim, float scale, int window, DeviceBuffer sinks) {
        DeviceBuffer K = at(k, kOffset), V = at(v, vOffset);
        int kw = kvHeads * qkDim, vw = kvHeads * vDim;
        for (int s = 0; s < n; s++) {
            DeviceBuffer kCache = new DeviceBuffer(MEMORY.get(JAVA_LONG_UNALIGNED, caches.address() + 16L * s), Long.MAX_VALUE);
            DeviceBuffer vCache = new DeviceBuffer(MEMORY.get(JAVA_LONG_UNALIGNED, caches.address() + 16L * s + 8), Long.MAX_VALUE);
            long p = i32(positions, s);
            for (int c = 0; c < kw; c++) f32(kCache, p * kw + c, f32(K, (long) s * kStride + c));
            for (int c = 0; c < vw; c++) f32(vCache, p * vw + c, f32(V, (long) s * vStride + c));
            DeviceBuffer row = new DeviceBuffer(out.address() + 4L * s * heads * vDim, 4L * heads * vDim);
            cachedAttention(q, qOffset + 4L * s * qStride, qStride, kCache, vCache, row, (int) p, 1, heads, kvHeads,
                    qkDim, vDim, scale, window, sinks);
        }
    }

    /**
     * One query row (from element {@code qAt} of Q) attends keys j in [lo, hi] (K's row j from {@code kAt} +
     * j·kStride, V's likewise) into out from element {@code outAt} (F32, or BF16 when {@code outBf16}: the F32 value
     * rounded once, its twin {@code outTwin} written where shadowed); a sink (or null) adds exp(sink) to the
     * denominator. {@code roundInputs}: Q, K, V and the probabilities (not their sum) rounded to BF16, as the flash
     * kernel's tensor cores read them.
     */
    private void attendRow(DeviceBuffer Q, long qAt, DeviceBuffer K, long kAt, int kStride, DeviceBuffer V,
                           long vAt, int vStride, int lo, int hi, int qkDim, int vDim, float scale, Float sink,
                           DeviceBuffer out, long outAt, boolean outBf16, long outTwin, boolean roundInputs) {
        boolean bf16 = roundInputs;
        double[] p = new double[hi - lo + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = lo; j <= hi; j++) {
            double dot = 0;
            for (int d = 0; d < qkDim; d++) {
                float qd = f32(Q, qAt + d), kd = f32(K, kAt + (long) j * kStride + d);
                dot += bf16 ? (double) roundBf16(qd) * roundBf16(kd) : (double) qd * kd;
            }
            p[j - lo] = dot * scale;
            max = Math.max(max, p[j - lo]);
        }
        if (sink != null) max = Math.max(max, sink);
        double sum = sink == null ? 0 : Math.exp(sink - max);
        for (int j = 0; j < p.length; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
        }
        for (int d = 0; d < vDim; d++) {
            double acc = 0;
            for (int j = lo; j <= hi; j++) {
                float vd = f32(V, vAt + (long) j * vStride + d);
                acc += bf16 ? (double) roundBf16((float) p[j - lo]) * roundBf16(vd) : p[j - lo] * vd;
            }
            float value = (float) (acc / sum);
            if (outBf16) bf16(outTwin, !rounding.projections(), out, outAt + d, value);
            else f32(out, outAt + d, value);
        }
    }

    @Override
    public void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit,
                                float upShift, ExpertOutputs in) {
        long inTwin = in == ExpertOutputs.BF16 ? shadow(gateUp) : 0, outTwin = shadow(out);
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < width; i++) {
                float g = element(inTwin, gateUp, in, (long) t * 2 * width + i);
                float u = element(inTwin, gateUp, in, (long) t * 2 * width + width + i);
                if (limit > 0) {
                    g = Math.min(g, limit);
                    u = Math.max(-limit, Math.min(u, limit));
                }
                float act = (float) (g / (1 + Math.exp(-alpha * (double) g)));
                bf16(outTwin, !rounding.experts(), out, (long) t * width + i, act * (u + upShift));
            }
        }
    }

    @Override
    public void addScaled(DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, long count, float m) {
        DeviceBuffer X = at(x, xOffset), Y = at(y, yOffset);
        for (long i = 0; i < count; i++) f32(X, i, m == 1f ? f32(X, i) + f32(Y, i) : f32(X, i) + m * f32(Y, i));
    }

    @Override
    public void addBias(DeviceBuffer x, long offset, int rows, int width, int stride, DeviceBuffer bias) {
        DeviceBuffer X = at(x, offset);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) f32(X, (long) r * stride + i, f32(X, (long) r * stride + i) + f32(bias, i));
        }
    }

    @Override
    public void clamp(DeviceBuffer x, long offset, int rows, int width, int stride, float limit) {
        DeviceBuffer X = at(x, offset);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) {
                long at = (long) r * stride + i;
                f32(X, at, Math.max(-limit, Math.min(limit, f32(X, at))));
            }
        }
    }

    @Override
    public void nonFinite(DeviceBuffer x, long offset, long count, DeviceBuffer flags, int slot) {
        DeviceBuffer X = at(x, offset);
        for (long i = 0; i < count; i++) {
            float v = f32(X, i);
            if (!Float.isFinite(v)) {
                int flag = (int) (2 * (count - i)) + (Float.isNaN(v) ? 1 : 0);
                MEMORY.set(JAVA_INT_UNALIGNED, flags.address() + 4L * slot, Math.max(i32(flags, slot), flag));
                return;
            }
        }
    }

    @Override
    public void sigmoidGateRows(DeviceBuffer x, int rows, int width, DeviceBuffer gate) {
        for (int r = 0; r < rows; r++) {
            float s = (float) (1 / (1 + Math.exp(-(double) f32(gate, r))));
            for (int i = 0; i < width; i++) f32(x, (long) r * width + i, f32(x, (long) r * width + i) * s);
        }
    }

    @Override
    public void copy2d(DeviceBuffer src, long srcOffset, int srcStride, int srcCol, DeviceBuffer dst, long dstOffset,
                       int dstStride, int dstCol, int rows, int cols, int srcRowDivisor) {
        DeviceBuffer S = at(src, srcOffset), D = at(dst, dstOffset);
        for (int r = 0; r < rows; r++) {
            long sr = (long) (r / srcRowDivisor) * srcStride + srcCol, dr = (long) r * dstStride + dstCol;
            for (int c = 0; c < cols; c++) f32(D, dr + c, f32(S, sr + c));
        }
    }

    // ---- next-token scores (perplexity and choice scoring: LayerMajorPass.Logits.SCORES) --------------------------

    /** Row by row in the CPU's own arithmetic ({@link TokenScores#argmax}, {@link TokenScores#nll}). */
    @Override
    public void tokenScores(DeviceBuffer logits, int rows, int vocab, DeviceBuffer targets, float divisor,
                            DeviceBuffer nll, DeviceBuffer hits, DeviceBuffer flags) {
        float[] row = new float[vocab];
        for (int r = 0; r < rows; r++) {
            int flag = readRow(logits, r, vocab, divisor, row);
            int target = i32(targets, r);
            boolean scored = flag == 0 && target >= 0;
            int best = scored ? TokenScores.argmax(row, 0, vocab) : -1;
            f32(nll, r, scored ? (float) TokenScores.nll(row, 0, vocab, row[best], target) : 0f);
            MEMORY.set(JAVA_INT_UNALIGNED, hits.address() + 4L * r, scored && best == target ? 1 : 0);
            MEMORY.set(JAVA_INT_UNALIGNED, flags.address() + 4L * r, flag);
        }
    }

    /**
     * Row r of logits [rows, vocab] into {@code row}, each divided by the divisor (not when it is 1 or 0) in float as
     * the CPU divides; the row's finite flag ({@link DeviceOps#tokenScores}': 0, or that of its first non-finite
     * entry).
     */
    private static int readRow(DeviceBuffer logits, int r, int vocab, float divisor, float[] row) {
        boolean divide = divisor != 1f && divisor != 0f;
        int flag = 0;
        for (int i = 0; i < vocab; i++) {
            float l = f32(logits, (long) r * vocab + i);
            row[i] = divide ? l / divisor : l;
            if (flag == 0 && !Float.isFinite(row[i])) flag = 2 * (vocab - i) + (Float.isNaN(row[i]) ? 1 : 0);
        }
        return flag;
    }

    // ---- greedy next tokens (decode steps whose next token is the argmax) ----------------------------------------

    /** Row by row: the host sampler's own argmax ({@link Sampler#argmax}) of each finite row. */
    @Override
    public void greedyTokens(DeviceBuffer logits, int rows, int vocab, float divisor, DeviceBuffer ids,
                             DeviceBuffer flags) {
        float[] row = new float[vocab];
        for (int r = 0; r < rows; r++) {
            int flag = readRow(logits, r, vocab, divisor, row);
            MEMORY.set(JAVA_INT_UNALIGNED, ids.address() + 4L * r, flag == 0 ? Sampler.argmax(row, 0, vocab) : -1);
            MEMORY.set(JAVA_INT_UNALIGNED, flags.address() + 4L * r, flag);
        }
    }

    // ---- the MoE block ------------------------------------------------------------------------------------------

    @Override
    public void embedRows(DeviceBuffer table, boolean bf16, DeviceBuffer ids, int count, int width, float multiplier,
                          DeviceBuffer dst, long dstOffset) {
        DeviceBuffer out = at(dst, dstOffset);
        for (int i = 0; i < count; i++) {
            long from = (long) i32(ids, i) * width;
            for (int c = 0; c < width; c++) {
                float v = bf16 ? bf16(table, from + c) : f32(table, from + c);
                f32(out, (long) i * width + c, multiplier == 1f ? v : v * multiplier);
            }
        }
    }

    @Override
    public void gatherRows(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        long twin = shadow(dst);
        for (int i = 0; i < count; i++) {
            long from = (long) i32(index, i) * width;
            for (int c = 0; c < width; c++) {
                bf16(twin, !rounding.experts(), dst, (long) i * width + c, f32(src, from + c));
            }
        }
    }

    @Override
    public void gatherRowsBf16(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        // Where a study switches roundings off (Rounding), the rows' twins are copied too: the experts' inputs then
        // carry the normalised rows' twin, exact only where the projections' inputs are (the gather of F32 rows this
        // replaced could round them apart).
        long srcTwin = shadow(src), dstTwin = shadow(dst);
        for (int i = 0; i < count; i++) {
            long from = (long) i32(index, i) * width, to = (long) i * width;
            MemorySegment.copy(MEMORY, src.address() + 2 * from, MEMORY, dst.address() + 2 * to, 2L * width);
            if (srcTwin != 0 && dstTwin != 0) {
                MemorySegment.copy(MEMORY, srcTwin + 4 * from, MEMORY, dstTwin + 4 * to, 4L * width);
            }
        }
    }

    @Override
    public void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out,
                             int n, int k, int width, ExpertOutputs rows) {
        long twin = rows == ExpertOutputs.BF16 ? shadow(expertRows) : 0;
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < width; c++) {
                float acc = 0;
                for (int s = 0; s < k; s++) {
                    int row = i32(slotRow, (long) t * k + s);
                    if (row >= 0) {
                        acc += f32(weight, (long) t * k + s) * element(twin, expertRows, rows, (long) row * width + c);
                    }
                }
                f32(out, (long) t * width + c, acc);
            }
        }
    }

    @Override
    public void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width,
                          ExpertOutputs rows) {
        long twin = rows == ExpertOutputs.BF16 ? shadow(expertRows) : 0;
        for (int i = 0; i < count; i++) {
            int row = i32(slotRow, i);
            double sq = 0;
            if (row >= 0) {
                for (int c = 0; c < width; c++) {
                    double v = element(twin, expertRows, rows, (long) row * width + c);
                    sq += v * v;
                }
            }
            f32(norms, i, (float) Math.sqrt(sq));
        }
    }

    @Override
    public void turns(DeviceBuffer h, DeviceBuffer r, DeviceBuffer turn, int n, int width) {
        for (int t = 0; t < n; t++) {
            double hh = 0, hy = 0, yy = 0;
            for (int i = 0; i < width; i++) {
                double hv = f32(h, (long) t * width + i), y = hv + f32(r, (long) t * width + i);
                hh += hv * hv;
                hy += hv * y;
                yy += y * y;
            }
            f32(turn, t, hh == 0 || yy == 0 ? 0f : (float) Math.max(0, 1 - hy / Math.sqrt(hh * yy)));
        }
    }

    // ---- routing on the device ------------------------------------------------------------------------------------

    @Override
    public void route(RoutingSpec spec, GroupStrategy strategy, DeviceBuffer logits, int n, DeviceBuffer selectionBias,
                      DeviceBuffer kept, DeviceBuffer ids, DeviceBuffer weights) {
        int e = spec.numExperts(), k = spec.topK();
        float[] z = floats(logits, (long) n * e), bias = selectionBias == null ? null : floats(selectionBias, e);
        int[] keptFlags = kept == null ? null : ints(kept, e), chosen = new int[n * k];
        float[] w = new float[n * k], scores = new float[e], choice = new float[e];
        for (int t = 0; t < n; t++) {
            RoutingReference.route(spec, strategy, z, t * e, bias, keptFlags, chosen, w, t * k, scores, choice);
        }
        check(ids, 0, 4L * chosen.length);
        check(weights, 0, 4L * w.length);
        MemorySegment.copy(chosen, 0, MEMORY, JAVA_INT_UNALIGNED, ids.address(), chosen.length);
        MemorySegment.copy(w, 0, MEMORY, JAVA_FLOAT_UNALIGNED, weights.address(), w.length);
    }

    @Override
    public void groupByExpert(DeviceBuffer ids, int slots, int k, int experts, DeviceBuffer scratch,
                              DeviceBuffer expertStart, DeviceBuffer gatherRow, DeviceBuffer slotRow) {
        check(scratch, 0, DeviceOps.groupingScratchBytes(slots, experts));
        int[] tiles = new int[(int) (DeviceOps.groupingScratchBytes(slots, experts) / 4)];
        int[] start = new int[experts + 1], gather = new int[slots], slot = new int[slots];
        RoutingReference.groupByExpert(ints(ids, slots), k, experts, tiles, start, gather, slot);
        check(expertStart, 0, 4L * start.length);
        check(gatherRow, 0, 4L * slots);
        check(slotRow, 0, 4L * slots);
        MemorySegment.copy(tiles, 0, MEMORY, JAVA_INT_UNALIGNED, scratch.address(), tiles.length);
        MemorySegment.copy(start, 0, MEMORY, JAVA_INT_UNALIGNED, expertStart.address(), start.length);
        MemorySegment.copy(gather, 0, MEMORY, JAVA_INT_UNALIGNED, gatherRow.address(), slots);
        MemorySegment.copy(slot, 0, MEMORY, JAVA_INT_UNALIGNED, slotRow.address(), slots);
    }

    private static float[] floats(DeviceBuffer b, long count) {
        check(b, 0, 4 * count);
        return MEMORY.asSlice(b.address(), 4 * count).toArray(JAVA_FLOAT_UNALIGNED);
    }

    private static int[] ints(DeviceBuffer b, long count) {
        check(b, 0, 4 * count);
        return MEMORY.asSlice(b.address(), 4 * count).toArray(JAVA_INT_UNALIGNED);
    }

    @Override
    public void close() {
        arena.close();
    }
}
