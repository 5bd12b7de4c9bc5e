package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.Kernel;
import io.moeprune.gpu.KernelModule;
import io.moeprune.gpu.cuda.Cublas;
import io.moeprune.gpu.cuda.CudaError;
import io.moeprune.gpu.cuda.Cudart;
import io.moeprune.model.GroupStrategy;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@link DeviceOps} on a CUDA device: the products through cuBLAS (BF16 inputs, F32 accumulation; the F32 router
 * product in plain F32, no TF32: the handle keeps cuBLAS's default math mode), everything else as the NVRTC kernels
 * of {@code kernels.cu}, all queued on the device's compute stream (the weights' uploads on its copy stream, the
 * observers' downloads on its download stream, ordered against it by fences). Fences are CUDA events from a pool: an
 * event goes back to the pool once the host has seen it pass (re-recording a passed event is safe: a stream wait takes
 * the event as recorded at the time of the wait), the download stream's at the next {@link #synchronize} (a
 * compute-stream wait for one may be queued after a worker saw it pass).
 *
 * <p>{@code -Dmoeprune.cudaDebug=true} synchronises after every operation and names the operation that failed (a
 * kernel fault otherwise surfaces at the next synchronisation, naming nothing).
 */
public final class CudaOps implements DeviceOps {
    private static final String KERNELS = "io/moeprune/gpu/kernels.cu";
    /** Threads of a block of the kernels (the grouped products' copy-out launches with it too). */
    static final int THREADS = 256;
    private static final int WARPS_PER_BLOCK = THREADS / 32, ATTENTION_WARPS = 4, ATTENTION_MAX_DIM = 256;
    /** Enough blocks to fill any GPU; the element-wise kernels loop over the rest. */
    private static final long MAX_BLOCKS = 1L << 16;

    private final GpuDevice device;
    private final Cudart rt;
    private final KernelModule kernels;
    private final boolean debug = Boolean.getBoolean("moeprune.cudaDebug");
    private final ArrayDeque<Long> idleEvents = new ArrayDeque<>();
    private final ArrayDeque<Long> copyEvents = new ArrayDeque<>(), computeEvents = new ArrayDeque<>(),
            downloadEvents = new ArrayDeque<>();
    private final List<Long> allEvents = new ArrayList<>();
    /** Timing events whose marks were read and released ({@link #releaseMarks}), for later marks to reuse. */
    private final ArrayDeque<Long> idleTimingEvents = new ArrayDeque<>();

    /**
     * How {@link #groupedLinear} runs the experts of a layer ({@code -Dmoeprune.groupedPath}): {@code batched} (one
     * {@code cublasGemmBatchedEx} per bucket of experts padded to a common row count, F32 outputs; {@link ExpertBuckets},
     * {@link BatchedLayout}), {@code grouped} (one {@code cublasGemmGroupedBatchedEx} with F32 outputs, which cuBLAS
     * 13.0 refuses for BF16 inputs), {@code grouped-bf16} (one grouped call writing BF16 outputs, 2^-9 relative,
     * widened after), {@code gemv} (kernels.cu's {@code grouped_gemv}: every expert in one launch of a kernel of
     * ours, for decoding's few rows an expert, in pieces of at most {@link CudaGroupedProducts#GEMV_MAX_ROWS}; where
     * the pieces are more than 1.5 an expert, as auto), {@code per-expert} (one cuBLAS product per expert),
     * or {@code auto}: gemv where no expert has more than {@link CudaGroupedProducts#GEMV_MAX_ROWS} rows (a decode
     * step), else batched, else grouped, else per expert. A refused path falls back to the next in that order
     * (grouped-bf16: grouped, then per expert). The older {@code -Dmoeprune.groupedBf16Outputs=true} means
     * {@code grouped-bf16}.
     */
    public enum GroupedPath {
        AUTO, BATCHED, GROUPED, GROUPED_BF16, GEMV, PER_EXPERT;

        /** The path named {@code name} as the switch spells it ({@code grouped-bf16}, {@code per-expert}, ...). */
        public static GroupedPath named(String name) {
            for (GroupedPath p : values()) if (p.switchName().equals(name.trim().toLowerCase(Locale.ROOT))) return p;
            throw new MoepruneException("-Dmoeprune.groupedPath=" + name + ": not one of auto, batched, grouped, "
                    + "grouped-bf16, gemv, per-expert", MoepruneException.BAD_INPUT, null);
        }

        public String switchName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        /** The path the system properties ask for. */
        static GroupedPath fromProperties() {
            String named = System.getProperty("moeprune.groupedPath");
            if (named != null) return named(named);
            return Boolean.getBoolean("moeprune.groupedBf16Outputs") ? GROUPED_BF16 : AUTO;
        }
    }

    /** The experts' products ({@link #groupedLinear}): their paths, pointer arrays and scratch. */
    private final CudaGroupedProducts grouped;

    /**
     * Which kernel {@link #attention} runs: {@code auto} (the fused flash kernel wherever it takes the heads, see
     * {@link #flashKernel}, once {@link #AUTO_TAKES_FLASH}; else the tensor-core path when the chunk's sequences
     * average at least {@link #TENSOR_CORE_MIN_TOKENS} tokens or a head is wider than the warp kernel takes, else the
     * warp kernel), {@code warp}, {@code tensor} or {@code flash} (where flash does not take the heads, as
     * {@code auto} without it); {@code -Dmoeprune.attention} sets it.
     */
    public enum AttentionPath { AUTO, WARP, TENSOR, FLASH }

    /**
     * Whether {@code auto} takes the flash kernel: yes since CudaOpsTest held it to HostOps on an H100 (2026-12-07:
     * every case within 1e-2, both block heights, f32 and bf16 K/V; scripts/check-flash-attention.sh checks its source
     * on the CPU in CI) and it ran the 8 × 2048 prefill's attention 3.6× faster than the tensor-core path
     * (BENCHMARKS.md).
     */
    static final boolean AUTO_TAKES_FLASH = true;

    /**
     * Query rows of one block of the flash kernel ({@code -Dmoeprune.flashRows}): 128 (8 warps: kernels.cu's
     * {@code _rows128} entry points, K and V read once for twice the rows; the default, 1.4-1.6× the 64-row blocks on
     * an H100) or 64 (4 warps).
     */
    public static final int DEFAULT_FLASH_ROWS = 128;

    private int flashRows = parseFlashRows(System.getProperty("moeprune.flashRows",
            Integer.toString(DEFAULT_FLASH_ROWS)));

    /**
     * How the flash kernel reads K and V ({@code -Dmoeprune.flashKv}): {@code bf16} (the default: the
     * {@code _bf16kv} entry points: the call's K and V rows converted to packed BF16 once into the attention scratch,
     * tiles copied by cp.async into two shared buffers, the next tile in flight while one is computed; on an H100 as
     * fast as f32 for heads of 128 and 1.4× f32 for DeepSeek's 192/128) or {@code f32} (F32 tiles rounded to BF16 into
     * shared memory). Where bf16 does not apply (head sizes not multiples of 8, or no room for the scratch) the f32
     * variant runs.
     */
    public enum FlashKv { F32, BF16 }

    public static final FlashKv DEFAULT_FLASH_KV = FlashKv.BF16;

    private FlashKv flashKv = parseFlashKv(System.getProperty("moeprune.flashKv",
            DEFAULT_FLASH_KV.name().toLowerCase(Locale.ROOT)));

    /**
     * The token scores' kernel ({@code -Dmoeprune.tokenScores}): {@code one-pass} (the default since 2026-12-07: one
     * read of the row, a running largest logit and sum per thread, a float exp per entry: kernels.cu,
     * token_scores_one_pass; on an H100 3.7 against 11.1 ms for 16,384 rows of 151,936, TokenScoresCudaTest holding it
     * to HostOps) or {@code two-pass} (the row's largest logit first, then the sum of exp(l − m) in double, each a
     * read of the row).
     */
    public enum TokenScoresKernel { TWO_PASS, ONE_PASS }

    private TokenScoresKernel tokenScoresKernel = parseTokenScores(System.getProperty("moeprune.tokenScores",
            "one-pass"));

    /**
     * The MoE epilogue's kernel ({@code -Dmoeprune.epilogueKernel}, {@link #moeEpilogue}): {@code vector} (the default
     * since 2026-12-07: moe_epilogue_vector_of, 4 columns a thread, one 16-byte load of each F32 slot row or 8 bytes of
     * BF16, every slot's load issued before the first add; the same x bits and flag, the norms' squares summed in float
     * over each load's 4 columns; CudaOpsTest holds both kernels to HostOps on an H100, and the watched epilogue of the
     * random 1.9 B model's calibration took 7.2 ms instead of 18.6, BENCHMARKS.md) or {@code scalar}
     * (moe_epilogue_of, a column a thread at a time, each slot's element loaded behind its mask test). Where vector
     * does not take the call (k over {@link #VECTOR_EPILOGUE_MAX_SLOTS}, a width not a multiple of 4, rows or x not
     * aligned for those loads) the scalar kernel runs.
     */
    public enum EpilogueKernel { SCALAR, VECTOR }

    /** Slots a token the vector epilogue takes (kernels.cu's FUSED_NORM_SLOTS: their loads held in registers). */
    static final int VECTOR_EPILOGUE_MAX_SLOTS = 8;
    /**
     * Threads of a block of the vector epilogue (a token a block; 4 columns a thread): kernels.cu's
     * EPILOGUE_VECTOR_THREADS, its launch bound (a launch of more fails).
     */
    private static final int VECTOR_EPILOGUE_THREADS = 128;

    private EpilogueKernel epilogueKernel = parseEpilogueKernel(System.getProperty("moeprune.epilogueKernel",
            "vector"));

    /** Sets the MoE epilogue's kernel (benchmarks and tests compare them). */
    public void epilogueKernel(EpilogueKernel kernel) {
        this.epilogueKernel = kernel;
    }

    static EpilogueKernel parseEpilogueKernel(String kernel) {
        return switch (kernel.trim()) {
            case "scalar" -> EpilogueKernel.SCALAR;
            case "vector" -> EpilogueKernel.VECTOR;
            default -> throw new MoepruneException("-Dmoeprune.epilogueKernel=" + kernel + ": not scalar or vector",
                    MoepruneException.BAD_INPUT, null);
        };
    }

    /** Sets the token scores' kernel (benchmarks and tests compare them). */
    public void tokenScoresKernel(TokenScoresKernel kernel) {
        this.tokenScoresKernel = kernel;
    }

    static TokenScoresKernel parseTokenScores(String kernel) {
        return switch (kernel.trim()) {
            case "two-pass" -> TokenScoresKernel.TWO_PASS;
            case "one-pass" -> TokenScoresKernel.ONE_PASS;
            default -> throw new MoepruneException("-Dmoeprune.tokenScores=" + kernel + ": not two-pass or one-pass",
                    MoepruneException.BAD_INPUT, null);
        };
    }

    /** Average sequence length from which {@code auto} takes the tensor-core path. */
    public static final int TENSOR_CORE_MIN_TOKENS = 256;
    /** Most device bytes the tensor-core path's scores, probabilities and BF16 inputs take at once. */
    public static final long ATTENTION_SCRATCH = 512L << 20;

    private AttentionPath attentionPath = AttentionPath.valueOf(
            System.getProperty("moeprune.attention", "auto").toUpperCase(Locale.ROOT));
    /**
     * The tensor-core path's scratch (grown up to {@link #ATTENTION_SCRATCH}) or the flash bf16 variant's K and V
     * ({@link FlashKv}), or null.
     */
    private DeviceBuffer attentionScratch;

    public CudaOps(GpuDevice device) {
        // First: it reads its switches, so that a bad -Dmoeprune.groupedPath is one line before the kernels' compile.
        this.grouped = new CudaGroupedProducts(device, this);
        this.device = device;
        this.rt = device.runtime();
        this.kernels = device.module("moeprune-kernels", source());
    }

    public GpuDevice device() {
        return device;
    }

    /** Forces an attention path (benchmarks and tests compare them). */
    public void attentionPath(AttentionPath path) {
        this.attentionPath = path;
    }

    /** Sets the flash kernel's block height: 64 or 128 query rows (benchmarks and tests compare them). */
    public void flashRows(int rows) {
        this.flashRows = parseFlashRows(Integer.toString(rows));
    }

    /** Sets how the flash kernel reads K and V (benchmarks and tests compare them). */
    public void flashKv(FlashKv kv) {
        this.flashKv = kv;
    }

    static FlashKv parseFlashKv(String kv) {
        return switch (kv.trim()) {
            case "f32" -> FlashKv.F32;
            case "bf16" -> FlashKv.BF16;
            default -> throw new MoepruneException("-Dmoeprune.flashKv=" + kv + ": not f32 or bf16",
                    MoepruneException.BAD_INPUT, null);
        };
    }

    static int parseFlashRows(String rows) {
        if (!rows.trim().equals("64") && !rows.trim().equals("128")) {
            throw new MoepruneException("-Dmoeprune.flashRows=" + rows + ": not 64 or 128", MoepruneException.BAD_INPUT,
                    null);
        }
        return Integer.parseInt(rows.trim());
    }

    static String source() {
        try (InputStream in = CudaOps.class.getClassLoader().getResourceAsStream(KERNELS)) {
            if (in == null) throw new IllegalStateException("the jar lacks " + KERNELS);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** In debug mode: the launch error or fault of {@code op} as a one-line error naming it. */
    void after(String op) {
        if (!debug) return;
        try {
            rt.checkLastError(op);
            device.synchronize();
        } catch (CudaError e) {
            throw new CudaError(op, e.code(), e.getMessage());
        }
    }

    private static int blocks(long elements) {
        return (int) Math.max(1, Math.min(MAX_BLOCKS, (elements + THREADS - 1) / THREADS));
    }

    /** An element-wise kernel over {@code elements} (grid-stride inside). */
    void elementwise(String function, long elements, Object... args) {
        if (elements <= 0) return;
        kernels.kernel(function).launch(blocks(elements), THREADS, 0, args);
        after(function);
    }

    /** The kernel {@code function} of kernels.cu (the grouped products' copy-out launches through it). */
    Kernel kernel(String function) {
        return kernels.kernel(function);
    }

    /** A kernel with one warp per row. */
    private void warpPerRow(String function, int rows, Object... args) {
        if (rows <= 0) return;
        kernels.kernel(function).launch((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK, THREADS, 0, args);
        after(function);
    }

    private static long at(DeviceBuffer b, long offset) {
        return b.at(offset);
    }

    // ---- memory -------------------------------------------------------------------------------------------------

    @Override
    public DeviceBuffer alloc(long bytes, String what) {
        return device.alloc(bytes, what);
    }

    @Override
    public void free(DeviceBuffer buffer) {
        device.free(buffer);
    }

    @Override
    public void upload(MemorySegment host, DeviceBuffer dst, long offset) {
        uploadOn(host, dst, offset, device.stream());
    }

    /** Heap segments have no address a copy can read: they go through native memory first. */
    private void uploadOn(MemorySegment host, DeviceBuffer dst, long offset, long stream) {
        if (host.byteSize() == 0) return;
        if (host.isNative()) {
            device.upload(host, dst, offset, stream);
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment staged = a.allocate(host.byteSize(), 16);
                staged.copyFrom(host);
                device.upload(staged, dst, offset, stream);
                rt.streamSynchronize(stream);   // the staging memory goes with the arena
            }
        }
        after("upload");
    }

    @Override
    public void download(DeviceBuffer src, long offset, MemorySegment host) {
        if (host.byteSize() == 0) return;
        if (host.isNative()) {
            device.download(src, offset, host, device.stream());
            rt.streamSynchronize(device.stream());
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment staged = a.allocate(host.byteSize(), 16);
                device.download(src, offset, staged, device.stream());
                rt.streamSynchronize(device.stream());
                host.copyFrom(staged);
            }
        }
        passed(computeEvents, Long.MIN_VALUE);   // the compute stream has drained
    }

    @Override
    public void downloadQueued(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        if (!pinnedHost.isNative()) {
            download(src, offset, pinnedHost);
            return;
        }
        if (pinnedHost.byteSize() == 0) return;
        device.download(src, offset, pinnedHost, device.stream());
        after("download");
    }

    @Override
    public void zero(DeviceBuffer buffer, long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > buffer.bytes()) {
            throw new IndexOutOfBoundsException(bytes + " bytes at " + offset + " of a buffer of " + buffer.bytes());
        }
        if (bytes == 0) return;
        rt.memsetAsync(buffer.address() + offset, 0, bytes, device.stream());
        after("zero");
    }

    @Override
    public void synchronize() {
        device.synchronize();
        passed(copyEvents, Long.MIN_VALUE);
        passed(computeEvents, Long.MIN_VALUE);
        passed(downloadEvents, Long.MIN_VALUE);
    }

    // ---- the weight-streaming schedule ----------------------------------------------------------------------------

    @Override
    public MemorySegment pinnedHost(long bytes) {
        return device.pinned(bytes);
    }

    @Override
    public void releasePinned(MemorySegment host) {
        device.releasePinned(host);
    }

    @Override
    public void uploadOnCopyStream(MemorySegment host, DeviceBuffer dst, long offset) {
        uploadOn(host, dst, offset, device.copyStream());
    }

    @Override
    public long copyFence() {
        return record(device.copyStream(), copyEvents);
    }

    @Override
    public long computeFence() {
        return record(device.stream(), computeEvents);
    }

    private long record(long stream, ArrayDeque<Long> recorded) {
        synchronized (idleEvents) {
            Long event = idleEvents.poll();
            if (event == null) {
                event = rt.eventCreate(false);
                allEvents.add(event);
            }
            rt.eventRecord(event, stream);
            recorded.add(event);
            return event;
        }
    }

    @Override
    public void computeWaits(long fence) {
        rt.streamWaitEvent(device.stream(), fence);
    }

    @Override
    public void copyWaits(long fence) {
        rt.streamWaitEvent(device.copyStream(), fence);
    }

    @Override
    public void hostWaits(long fence) {
        // Any thread may wait (the observers' workers wait for their downloads' fences). An event goes back to the
        // pool only once passed, so should it be passed and recorded again before this wait, the wait is for later
        // work than asked, never for less.
        device.bind();
        rt.eventSynchronize(fence);
        synchronized (idleEvents) {
            // Events of one stream pass in the order they were recorded: this one and all before it are done.
            // Not the download stream's: a worker waits for one before the pass's thread queues the compute stream's
            // wait for it (the next router), and recycled in between it could be recorded again on the copy stream,
            // making that wait one for a layer's upload. They go back at the next synchronize (the pass's end).
            if (copyEvents.contains(fence)) passed(copyEvents, fence);
            else if (computeEvents.contains(fence)) passed(computeEvents, fence);
        }
    }

    /** Returns the events of {@code recorded} up to {@code last} (all of them for Long.MIN_VALUE) to the pool. */
    private void passed(ArrayDeque<Long> recorded, long last) {
        synchronized (idleEvents) {   // the fences' bookkeeping: the pass's thread and the observers' workers
            while (!recorded.isEmpty()) {
                long e = recorded.poll();
                idleEvents.add(e);
                if (e == last) return;
            }
        }
    }

    /**
     * A timing event of its own (never pooled with the fences): one a released mark left ({@link #releaseMarks}),
     * else new; destroyed when these ops close.
     */
    @Override
    public long timingMark(boolean copyStream) {
        return timingMarkOn(copyStream ? device.copyStream() : device.stream());
    }

    private long timingMarkOn(long stream) {
        Long event;
        synchronized (idleTimingEvents) {
            event = idleTimingEvents.poll();
        }
        if (event == null) {
            event = rt.eventCreate(true);
            synchronized (idleEvents) {   // allEvents' lock (the fences add theirs under it)
                allEvents.add(event);
            }
        }
        rt.eventRecord(event, stream);
        return event;
    }

    @Override
    public void releaseMarks(long[] marks) {
        synchronized (idleTimingEvents) {
            for (long m : marks) idleTimingEvents.add(m);
        }
    }

    @Override
    public double elapsedSeconds(long from, long to) {
        rt.eventSynchronize(to);
        rt.eventSynchronize(from);
        return rt.elapsedMillis(from, to) / 1e3;
    }

    @Override
    public long allocatedBytes() {
        return device.allocatedBytes();
    }

    @Override
    public long peakBytes() {
        return device.peakBytes();
    }

    // ---- the download stream: the observers' device→host copies ---------------------------------------------------
    // Its fences are real events (cudaEventRecord on the download stream, waited for by cudaStreamWaitEvent on the
    // compute stream, cudaEventSynchronize on the host), from the fences' pool, back in it at the next synchronize.

    @Override
    public void downloadOnDownloadStream(DeviceBuffer src, long offset, MemorySegment pinnedHost) {
        if (!pinnedHost.isNative()) {
            download(src, offset, pinnedHost);   // waits for the compute stream: after the writers, before the rest
            return;
        }
        if (pinnedHost.byteSize() == 0) return;
        device.download(src, offset, pinnedHost, device.downloadStream());
        after("download on the download stream");
    }

    @Override
    public long downloadFence() {
        return record(device.downloadStream(), downloadEvents);
    }

    @Override
    public void downloadWaits(long fence) {
        rt.streamWaitEvent(device.downloadStream(), fence);
    }

    @Override
    public long downloadTimingMark() {
        return timingMarkOn(device.downloadStream());
    }

    // ---- conversions --------------------------------------------------------------------------------------------

    @Override
    public void toBf16(DeviceBuffer src, DeviceBuffer dst, long count) {
        elementwise("to_bf16_kernel", count, src, dst, count);
    }

    @Override
    public void dequantFp8Blocks(DeviceBuffer src, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols, int block) {
        elementwise("dequant_fp8_blocks", (long) rows * cols, src, scales, dst, rows, cols, block);
    }

    @Override
    public void dequantMxfp4(DeviceBuffer blocks, DeviceBuffer scales, DeviceBuffer dst, int rows, int cols) {
        if (cols % 32 != 0) throw new IllegalArgumentException("MXFP4 columns " + cols + " are not groups of 32");
        elementwise("dequant_mxfp4", (long) rows * cols / 2, blocks, scales, dst, rows, cols);
    }

    // ---- matrix products ----------------------------------------------------------------------------------------

    @Override
    public void linear(int n, int out, int in, DeviceBuffer w, long wOffset, DeviceBuffer x, long xOffset,
                       DeviceBuffer y, long yOffset, int ldy, boolean accumulate) {
        if (n == 0 || out == 0) return;
        device.cublas().linear(device.blas(), n, out, in, 1f, at(w, wOffset), Cublas.R_16BF, at(x, xOffset),
                Cublas.R_16BF, accumulate ? 1f : 0f, at(y, yOffset), Cublas.R_32F, ldy);
        after("linear");
    }

    @Override
    public void linearF32(int n, int out, int in, DeviceBuffer w, DeviceBuffer x, DeviceBuffer y) {
        if (n == 0 || out == 0) return;
        device.cublas().linear(device.blas(), n, out, in, 1f, w.address(), Cublas.R_32F, x.address(), Cublas.R_32F,
                0f, y.address(), Cublas.R_32F, out);
        after("linearF32");
    }

    @Override
    public void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        grouped.groupedLinear(rows, out, in, w, x, y, outputs);
    }

    @Override
    public void groupedLinearRouted(DeviceBuffer expertStart, DeviceBuffer weights, int experts, DeviceBuffer x,
                                    DeviceBuffer y, int out, int in, int mostRows, ExpertOutputs outputs) {
        grouped.routed(expertStart, weights, experts, x, y, out, in, mostRows, outputs);
    }

    @Override
    public Reservation reserveGroupedProducts(int problems) {
        return grouped.reserve(problems);
    }

    /** Allows or forbids the batched path's early calls (the speed table compares them). */
    public void batchedEarlyCalls(boolean on) {
        grouped.batchedEarlyCalls(on);
    }

    /** Forces how {@link #groupedLinear} runs (benchmarks and tests compare the paths). */
    public void groupedPath(GroupedPath path) {
        grouped.groupedPath(path);
    }

    /**
     * What the last {@link #groupedLinear} ran: "cuBLAS batched: N calls, rows padded to G[, C copied out]",
     * "cuBLAS grouped",
     * "cuBLAS grouped, BF16 outputs", "gemv kernel: N problems of at most R rows[, scalar loads]", "one product
     * per expert", or "not run yet" (a gemv call of too many pieces runs auto's and adds "(gemv: N pieces ...)").
     */
    public String groupedPath() {
        return grouped.groupedPath();
    }

    // ---- row-wise operations ------------------------------------------------------------------------------------

    @Override
    public void rmsNorm(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, int rows, int width,
                        int stride, DeviceBuffer weight, float eps) {
        warpPerRow("rms_norm", rows, at(src, srcOffset), at(dst, dstOffset), rows, width, stride, weight, eps);
    }

    @Override
    public void rmsNormHeads(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                             DeviceBuffer weight, float eps) {
        // One warp per (row, head), as rms_norm's warp per row.
        warpPerRow("rms_norm_heads", rows * heads, at(x, offset), rows, heads, headDim, rowStride, weight, eps);
    }

    @Override
    public void rmsNormBf16(DeviceBuffer src, DeviceBuffer dstF32, DeviceBuffer dstBf16, int rows, int width,
                            DeviceBuffer weight, float eps) {
        warpPerRow("rms_norm_bf16", rows, src, dstF32 == null ? 0L : dstF32.address(), dstBf16, rows, width, weight,
                eps);
    }

    @Override
    public void rope(DeviceBuffer x, long offset, int rows, int rowStride, int heads, int headDim, int ropeOffset,
                     int rotaryDim, DeviceBuffer positions, DeviceBuffer invFreq, float attentionScale,
                     boolean interleaved) {
        elementwise("rope", (long) rows * heads * (rotaryDim / 2), at(x, offset), rows, rowStride, heads, headDim,
                ropeOffset, rotaryDim, positions, invFreq, attentionScale, interleaved ? 1 : 0);
    }

    /** One warp per (row, head), as {@code rms_norm_heads}: the head normalised, then its pairs rotated. */
    @Override
    public void rmsNormHeadsRope(DeviceBuffer x, long offset, int rows, int heads, int headDim, int rowStride,
                                 DeviceBuffer weight, float eps, DeviceBuffer positions, DeviceBuffer invFreq,
                                 int rotaryDim, float attentionScale, boolean interleaved) {
        warpPerRow("rms_norm_heads_rope", rows * heads, at(x, offset), rows, heads, headDim, rowStride, weight, eps,
                positions, invFreq, rotaryDim, attentionScale, interleaved ? 1 : 0);
    }

    @Override
    public void attention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                          DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer starts,
                          int sequences, int tokens, int heads, int kvHeads, int qkDim, int vDim, float scale,
                          int window, DeviceBuffer sinks) {
        if (tokens == 0 || sequences == 0) return;
        AttentionPath path = pathFor(tokens / sequences, qkDim, vDim);
        if (path == AttentionPath.FLASH) {
            flashAttention(flashKernel(qkDim, vDim), at(q, qOffset), qStride, at(k, kOffset), kStride, at(v, vOffset),
                    vStride, out, false, starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks);
            return;
        }
        if (path == AttentionPath.TENSOR && tensorCoreAttention(at(q, qOffset), qStride, at(k, kOffset), kStride,
                at(v, vOffset), vStride, out, starts, sequences, heads, kvHeads, qkDim, vDim, scale, window, sinks)) {
            return;
        }
        requireAttentionDims(qkDim, vDim);
        kernels.kernel("attention").launch(tokens, (heads + ATTENTION_WARPS - 1) / ATTENTION_WARPS, 1,
                32 * ATTENTION_WARPS, 1, 1, 0, new Object[]{at(q, qOffset), qStride, at(k, kOffset), kStride,
                        at(v, vOffset), vStride, out, starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale,
                        window, sinks == null ? 0L : sinks.address()});
        after("attention");
    }

    /** The flash kernel writes the BF16 rows itself ({@code out} untouched); the other paths as the default. */
    @Override
    public void attentionBf16(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset, int kStride,
                              DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out, DeviceBuffer outBf16,
                              DeviceBuffer starts, int sequences, int tokens, int heads, int kvHeads, int qkDim,
                              int vDim, float scale, int window, DeviceBuffer sinks) {
        if (tokens == 0 || sequences == 0) return;
        if (pathFor(tokens / sequences, qkDim, vDim) == AttentionPath.FLASH) {
            flashAttention(flashKernel(qkDim, vDim), at(q, qOffset), qStride, at(k, kOffset), kStride, at(v, vOffset),
                    vStride, outBf16, true, starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window,
                    sinks);
            return;
        }
        DeviceOps.super.attentionBf16(q, qOffset, qStride, k, kOffset, kStride, v, vOffset, vStride, out, outBf16,
                starts, sequences, tokens, heads, kvHeads, qkDim, vDim, scale, window, sinks);
    }

    /**
     * The path {@link #attention} takes (flash, tensor or warp; never auto) on sequences averaging
     * {@code averageTokens} tokens with heads of qkDim and vDim, by the rule of {@link AttentionPath}. The tensor-core
     * path still falls back to the warp kernel where its scratch does not fit the bound.
     */
    public AttentionPath pathFor(int averageTokens, int qkDim, int vDim) {
        return pathFor(attentionPath, flashKernel(qkDim, vDim) != null, averageTokens, qkDim, vDim);
    }

    /** {@link #pathFor} under the setting {@code setting}, where {@code flashHolds}: a flash kernel takes the heads. */
    static AttentionPath pathFor(AttentionPath setting, boolean flashHolds, int averageTokens, int qkDim, int vDim) {
        return pathFor(setting, AUTO_TAKES_FLASH, flashHolds, averageTokens, qkDim, vDim);
    }

    /** {@link #pathFor}, with whether {@code auto} takes the flash kernel given. */
    static AttentionPath pathFor(AttentionPath setting, boolean autoTakesFlash, boolean flashHolds, int averageTokens,
                                 int qkDim, int vDim) {
        boolean flashFirst = setting == AttentionPath.AUTO && autoTakesFlash || setting == AttentionPath.FLASH;
        if (flashFirst && flashHolds) return AttentionPath.FLASH;
        boolean wide = qkDim > ATTENTION_MAX_DIM || vDim > ATTENTION_MAX_DIM;
        return switch (setting) {
            case TENSOR -> AttentionPath.TENSOR;
            case WARP -> AttentionPath.WARP;
            case AUTO, FLASH -> wide || averageTokens >= TENSOR_CORE_MIN_TOKENS ? AttentionPath.TENSOR
                    : AttentionPath.WARP;
        };
    }

    /**
     * The flash kernel of kernels.cu whose registers hold heads of qkDim and vDim (zeros pad the rest): 64/64
     * (gpt-oss), 128/128 (Qwen3, OLMoE, Mixtral) or 192/128 (DeepSeek's MLA); null where none does or the device
     * lacks BF16 mma.sync (before sm_80).
     */
    String flashKernel(int qkDim, int vDim) {
        return flashKernel(device.info().major(), qkDim, vDim);
    }

    /** {@link #flashKernel} on a device of compute capability {@code major}.x. */
    static String flashKernel(int major, int qkDim, int vDim) {
        if (major < 8) return null;
        if (qkDim <= 64 && vDim <= 64) return "flash_attention_64";
        if (qkDim <= 128 && vDim <= 128) return "flash_attention_128";
        if (qkDim <= 192 && vDim <= 128) return "flash_attention_192_128";
        return null;
    }

    /**
     * Prefill attention in one fused kernel (FlashAttention-2 on mma.sync, kernels.cu's flash_attention_*): a block
     * per ({@link #flashRows} query rows of a sequence, head), two threads a row, keeps Q, the running softmax and O
     * in registers, K and V go through shared memory as BF16 tiles of 64 keys; only the tiles at or below the diagonal
     * (and within the window) are computed. BF16 inputs and probabilities, F32 accumulation and softmax: within about
     * 1e-2 relative of HostOps, as the tensor-core path. No download (and, in the f32 variant, no scratch; the bf16
     * variant converts K and V into the attention scratch first, {@link FlashKv}): the grid is sized by
     * tokens / rows + sequences tiles, an upper bound on the sequences' tiles, and the kernel finds each block's tile
     * from {@code starts}. {@code outBf16}: out's rows are BF16 (each F32 value rounded once, as toBf16), else F32.
     */
    private void flashAttention(String kernel, long q, int qStride, long k, int kStride, long v, int vStride,
                                DeviceBuffer out, boolean outBf16, DeviceBuffer starts, int sequences, int tokens,
                                int heads, int kvHeads, int qkDim, int vDim, float scale, int window,
                                DeviceBuffer sinks) {
        long blocks = ((long) tokens / flashRows + sequences) * heads;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("flash attention of " + blocks + " blocks");
        String entry = flashRows == 128 ? kernel + "_rows128" : kernel;
        Object sinkArg = sinks == null ? 0L : sinks.address();
        if (flashKvBf16(qkDim, vDim) && holdScratch(bf16KvBytes(tokens, kvHeads, qkDim, vDim))) {
            // K [tokens, kvHeads·qkDim] then V [tokens, kvHeads·vDim], packed BF16: rows of multiples of 8 elements, so
            // every 16-byte cp.async of a head's row is aligned (the scratch starts on 256 bytes).
            long kb = attentionScratch.address(), vb = kb + align(2L * tokens * kvHeads * qkDim);
            elementwise("to_bf16_rows", (long) tokens * kvHeads * qkDim, k, kStride, kb, tokens, kvHeads * qkDim);
            elementwise("to_bf16_rows", (long) tokens * kvHeads * vDim, v, vStride, vb, tokens, kvHeads * vDim);
            kernels.kernel(entry + "_bf16kv").launch((int) blocks, 1, 1, 2 * flashRows, 1, 1,
                    flashSharedBytes(qkDim, vDim), new Object[]{q, qStride, kb, kvHeads * qkDim, vb, kvHeads * vDim,
                            out, starts, sequences, heads, kvHeads, qkDim, vDim, scale, window, sinkArg, 0,
                            outBf16 ? 1 : 0});
            after("attention (flash, bf16 K/V)");
            return;
        }
        // 16-byte loads of K and V where every row and head starts on 16 bytes.
        boolean vec = (q | k | v) % 16 == 0 && (qStride | kStride | vStride | qkDim | vDim) % 4 == 0;
        kernels.kernel(entry).launch((int) blocks, 1, 1, 2 * flashRows, 1, 1, 0, new Object[]{q, qStride, k, kStride,
                v, vStride, out, starts, sequences, heads, kvHeads, qkDim, vDim, scale, window, sinkArg, vec ? 1 : 0,
                outBf16 ? 1 : 0});
        after("attention (flash)");
    }

    /** Whether the flash kernel reads K and V as BF16 for heads of qkDim and vDim ({@link FlashKv}). */
    private boolean flashKvBf16(int qkDim, int vDim) {
        return flashKv == FlashKv.BF16 && qkDim % 8 == 0 && vDim % 8 == 0;
    }

    /** The bf16kv variant's K and V of {@code tokens} rows, packed BF16. */
    static long bf16KvBytes(long tokens, int kvHeads, int qkDim, int vDim) {
        return align(2 * tokens * kvHeads * qkDim) + align(2 * tokens * kvHeads * vDim);
    }

    /**
     * The dynamic shared memory of a {@code _bf16kv} flash entry point: two buffers each of K and V, 64 keys of the
     * register layout's head sizes (64/64, 128/128 or 192/128, {@link #flashKernel}) plus 8 BF16 of padding a row.
     */
    static int flashSharedBytes(int qkDim, int vDim) {
        int qk = qkDim <= 64 && vDim <= 64 ? 64 : qkDim <= 128 && vDim <= 128 ? 128 : 192;
        int vd = qk == 64 ? 64 : 128;
        return 2 * 64 * (qk + 8 + vd + 8) * 2;
    }

    /** Grows the attention scratch to {@code want} bytes; false where that is beyond the device's bound. */
    private boolean holdScratch(long want) {
        if (attentionScratch != null && attentionScratch.bytes() >= want) return true;
        if (attentionScratch != null) device.free(attentionScratch);
        attentionScratch = null;
        try {
            attentionScratch = device.alloc(want, "the attention's scratch");
            return true;
        } catch (MoepruneException e) {
            return false;
        }
    }

    /**
     * Prefill attention through cuBLAS on tensor cores, sequence by sequence: q, k, v converted to BF16; for each
     * position g within a GQA group one strided batched product over the kv heads (a chunk of them at a time, so the
     * scores fit {@link #ATTENTION_SCRATCH}) gives the scores S = scale·Q·Kᵀ [L, L] (F32), {@code causal_softmax}
     * writes P (BF16; causal, window, sinks), and a second batched product writes P·V into the output rows. P and the
     * inputs are BF16, so it agrees with HostOps within about 1e-2 relative (the warp kernel: 1e-4). The whole L×L is
     * computed (twice the causal work) in exchange for two plain products. Returns false when the scratch does not fit
     * the --gpu-memory bound (the caller runs the warp kernel).
     */
    private boolean tensorCoreAttention(long q, int qStride, long k, int kStride, long v, int vStride, DeviceBuffer out,
                                        DeviceBuffer starts, int sequences, int heads, int kvHeads, int qkDim, int vDim,
                                        float scale, int window, DeviceBuffer sinks) {
        int[] st;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(4L * (sequences + 1), 4);
            download(starts, 0, host);
            st = host.toArray(java.lang.foreign.ValueLayout.JAVA_INT);
        }
        int longest = 0;
        for (int s = 0; s < sequences; s++) longest = Math.max(longest, st[s + 1] - st[s]);
        long L = longest;
        long inputs = inputBytes(L, heads, kvHeads, qkDim, vDim), perProblem = problemBytes(L);
        long want = tensorScratch(L, heads, kvHeads, qkDim, vDim);
        if (want == 0) return false;
        if (!holdScratch(want)) return false;   // beyond the bound: the warp kernel needs none
        int chunk = (int) Math.min(kvHeads, (attentionScratch.bytes() - inputs) / perProblem);
        int group = heads / kvHeads;
        long qb = attentionScratch.address(), kb = qb + align(2 * L * heads * qkDim), vb = kb + align(2 * L * kvHeads * qkDim);
        long scores = vb + align(2 * L * kvHeads * vDim), probs = scores + chunk * align(4 * L * L);
        for (int s = 0; s < sequences; s++) {
            int from = st[s], n = st[s + 1] - st[s];
            if (n == 0) continue;
            long ln = n;
            elementwise("to_bf16_rows", ln * heads * qkDim, q + 4L * from * qStride, qStride, qb, n, heads * qkDim);
            elementwise("to_bf16_rows", ln * kvHeads * qkDim, k + 4L * from * kStride, kStride, kb, n, kvHeads * qkDim);
            elementwise("to_bf16_rows", ln * kvHeads * vDim, v + 4L * from * vStride, vStride, vb, n, kvHeads * vDim);
            // This sequence's problems are n×n: their S and P sit n·n apart inside the longest's slots.
            for (int g = 0; g < group; g++) {
                for (int k0 = 0; k0 < kvHeads; k0 += chunk) {
                    int batch = Math.min(chunk, kvHeads - k0), head = k0 * group + g;
                    device.cublas().stridedBatched(device.blas(), true, false, n, n, qkDim, scale,
                            kb + 2L * k0 * qkDim, Cublas.R_16BF, kvHeads * qkDim, qkDim,
                            qb + 2L * head * qkDim, Cublas.R_16BF, heads * qkDim, (long) group * qkDim,
                            0f, scores, Cublas.R_32F, n, ln * n, batch);
                    kernels.kernel("causal_softmax").launch(n, batch, 1, THREADS, 1, 1, 0, new Object[]{scores, probs, n,
                            window, sinks == null ? 0L : sinks.address(), head, group});
                    device.cublas().stridedBatched(device.blas(), false, false, vDim, n, n, 1f,
                            vb + 2L * k0 * vDim, Cublas.R_16BF, kvHeads * vDim, vDim,
                            probs, Cublas.R_16BF, n, ln * n,
                            0f, out.address() + 4L * ((long) from * heads * vDim + (long) head * vDim), Cublas.R_32F,
                            heads * vDim, (long) group * vDim, batch);
                }
            }
        }
        after("attention (tensor cores)");
        return true;
    }

    /** The tensor-core path's BF16 q, k, v of a sequence of L tokens. */
    private static long inputBytes(long L, int heads, int kvHeads, int qkDim, int vDim) {
        return align(2 * L * heads * qkDim) + align(2 * L * kvHeads * qkDim) + align(2 * L * kvHeads * vDim);
    }

    /** One head's scores (F32) and probabilities (BF16) of L tokens. */
    private static long problemBytes(long L) {
        return align(4 * L * L) + align(2 * L * L);
    }

    /** The tensor-core path's scratch for sequences of up to L tokens: all kv heads at once or what fits; 0: none fits. */
    private static long tensorScratch(long L, int heads, int kvHeads, int qkDim, int vDim) {
        long inputs = inputBytes(L, heads, kvHeads, qkDim, vDim), perProblem = problemBytes(L);
        long want = Math.min(ATTENTION_SCRATCH, inputs + kvHeads * perProblem);
        return want < inputs + perProblem ? 0 : want;
    }

    @Override
    public long attentionScratchBytes(int longest, int heads, int kvHeads, int qkDim, int vDim) {
        // Flash's f32 variant needs none (registers and shared memory only), its bf16 variant K and V as BF16 (of the
        // longest sequence: a call of several sequences may want more, and where that does not fit the f32 variant
        // runs), the warp kernel none.
        AttentionPath path = pathFor(longest, qkDim, vDim);
        long want = path == AttentionPath.TENSOR ? tensorScratch(longest, heads, kvHeads, qkDim, vDim)
                : path == AttentionPath.FLASH && flashKvBf16(qkDim, vDim) ? bf16KvBytes(longest, kvHeads, qkDim, vDim)
                : 0;
        long held = attentionScratch == null ? 0 : attentionScratch.bytes();   // already in the caller's "in use"
        return Math.max(0, want - held);
    }

    private static long align(long bytes) {
        return (bytes + 255) & ~255L;
    }

    @Override
    public void cachedAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer kCache, DeviceBuffer vCache,
                                DeviceBuffer out, int past, int n, int heads, int kvHeads, int qkDim, int vDim,
                                float scale, int window, DeviceBuffer sinks) {
        requireAttentionDims(qkDim, vDim);
        if (n == 0) return;
        kernels.kernel("cached_attention").launch(n, (heads + ATTENTION_WARPS - 1) / ATTENTION_WARPS, 1,
                32 * ATTENTION_WARPS, 1, 1, 0, new Object[]{at(q, qOffset), qStride, kCache, vCache, out, past, n,
                        heads, kvHeads, qkDim, vDim, scale, window, sinks == null ? 0L : sinks.address()});
        after("cachedAttention");
    }

    @Override
    public void batchedDecodeAttention(DeviceBuffer q, long qOffset, int qStride, DeviceBuffer k, long kOffset,
                                       int kStride, DeviceBuffer v, long vOffset, int vStride, DeviceBuffer out,
                                       DeviceBuffer caches, DeviceBuffer positions, int n, int heads, int kvHeads,
                                       int qkDim, int vDim, float scale, int window, DeviceBuffer sinks) {
        requireAttentionDims(qkDim, vDim);
        if (n == 0) return;
        elementwise("append_kv", (long) n * kvHeads * (qkDim + vDim), at(k, kOffset), kStride, at(v, vOffset), vStride,
                caches, positions, n, kvHeads * qkDim, kvHeads * vDim);
        kernels.kernel("batched_cached_attention").launch(n, (heads + ATTENTION_WARPS - 1) / ATTENTION_WARPS, 1,
                32 * ATTENTION_WARPS, 1, 1, 0, new Object[]{at(q, qOffset), qStride, caches, positions, out, n, heads,
                        kvHeads, qkDim, vDim, scale, window, sinks == null ? 0L : sinks.address()});
        after("batchedDecodeAttention");
    }

    private static void requireAttentionDims(int qkDim, int vDim) {
        if (qkDim > ATTENTION_MAX_DIM || vDim > ATTENTION_MAX_DIM) {
            throw new MoepruneException("--device cuda: attention heads of " + Math.max(qkDim, vDim)
                    + " elements are not supported (at most " + ATTENTION_MAX_DIM + ")", MoepruneException.FAILED, null);
        }
    }

    @Override
    public void gatedActivation(DeviceBuffer gateUp, DeviceBuffer out, int n, int width, float alpha, float limit,
                                float upShift, ExpertOutputs in) {
        warpPerRow(in == ExpertOutputs.BF16 ? "gated_activation_bf16" : "gated_activation", n, gateUp, out, n, width,
                alpha, limit, upShift);
    }

    @Override
    public void addScaled(DeviceBuffer x, long xOffset, DeviceBuffer y, long yOffset, long count, float m) {
        elementwise("add_scaled", count, at(x, xOffset), at(y, yOffset), count, m);
    }

    @Override
    public void addBias(DeviceBuffer x, long offset, int rows, int width, int stride, DeviceBuffer bias) {
        elementwise("add_bias", (long) rows * width, at(x, offset), rows, width, stride, bias);
    }

    @Override
    public void clamp(DeviceBuffer x, long offset, int rows, int width, int stride, float limit) {
        elementwise("clamp_rows", (long) rows * width, at(x, offset), rows, width, stride, limit);
    }

    @Override
    public void nonFinite(DeviceBuffer x, long offset, long count, DeviceBuffer flags, int slot) {
        if (count >= 1L << 30) throw new IllegalArgumentException("a finite check of " + count + " elements");
        elementwise("non_finite", count, at(x, offset), count, flags, slot);
    }

    @Override
    public void sigmoidGateRows(DeviceBuffer x, int rows, int width, DeviceBuffer gate) {
        elementwise("sigmoid_gate_rows", (long) rows * width, x, rows, width, gate);
    }

    @Override
    public void copy2d(DeviceBuffer src, long srcOffset, int srcStride, int srcCol, DeviceBuffer dst, long dstOffset,
                       int dstStride, int dstCol, int rows, int cols, int srcRowDivisor) {
        elementwise("copy_2d", (long) rows * cols, at(src, srcOffset), srcStride, srcCol, at(dst, dstOffset),
                dstStride, dstCol, rows, cols, srcRowDivisor);
    }

    // ---- embeddings ---------------------------------------------------------------------------------------------

    /** One block per token row ({@code embed_rows}), its threads along the row: no division per element. */
    @Override
    public void embedRows(DeviceBuffer table, boolean bf16, DeviceBuffer ids, int count, int width, float multiplier,
                          DeviceBuffer dst, long dstOffset) {
        if (count <= 0) return;
        kernels.kernel("embed_rows").launch((int) Math.min(count, MAX_BLOCKS), THREADS, 0, table, bf16 ? 1 : 0, ids,
                count, width, multiplier, at(dst, dstOffset));
        after("embedRows");
    }

    // ---- next-token scores (perplexity and choice scoring: LayerMajorPass.Logits.SCORES) --------------------------

    /** One block per row ({@code token_scores}): two passes over the row, the second's sum in double. */
    @Override
    public void tokenScores(DeviceBuffer logits, int rows, int vocab, DeviceBuffer targets, float divisor,
                            DeviceBuffer nll, DeviceBuffer hits, DeviceBuffer flags) {
        if (rows <= 0) return;
        String kernel = tokenScoresKernel == TokenScoresKernel.ONE_PASS ? "token_scores_one_pass" : "token_scores";
        kernels.kernel(kernel).launch(rows, THREADS, 0, logits, rows, vocab, targets, divisor, nll, hits, flags);
        after("tokenScores");
    }

    /** One block per row ({@code greedy_tokens}): the one-pass token scores' 16-byte read of the row, no sum. */
    @Override
    public void greedyTokens(DeviceBuffer logits, int rows, int vocab, float divisor, DeviceBuffer ids,
                             DeviceBuffer flags) {
        if (rows <= 0) return;
        kernels.kernel("greedy_tokens").launch(rows, THREADS, 0, logits, rows, vocab, divisor, ids, flags);
        after("greedyTokens");
    }

    // ---- the MoE block ------------------------------------------------------------------------------------------

    @Override
    public void gatherRows(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        elementwise("gather_rows", (long) count * width, src, index, dst, count, width);
    }

    @Override
    public void gatherRowsBf16(DeviceBuffer src, DeviceBuffer index, DeviceBuffer dst, int count, int width) {
        warpPerRow("gather_rows_bf16", count, src, index, dst, count, width);
    }

    @Override
    public void combineSlots(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, DeviceBuffer out,
                             int n, int k, int width, ExpertOutputs rows) {
        elementwise(rows == ExpertOutputs.BF16 ? "combine_slots_bf16" : "combine_slots", (long) n * width, expertRows,
                slotRow, weight, out, n, k, width);
    }

    @Override
    public void slotNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer norms, int count, int width,
                          ExpertOutputs rows) {
        warpPerRow(rows == ExpertOutputs.BF16 ? "slot_norms_bf16" : "slot_norms", count, expertRows, slotRow, norms,
                count, width);
    }

    /** A block per token: its k slot rows read once for the combined row and the slots' norms. */
    @Override
    public void combineSlotsWithNorms(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight,
                                      DeviceBuffer out, int n, int k, int width, DeviceBuffer norms,
                                      ExpertOutputs rows) {
        if (n <= 0) return;
        String function = rows == ExpertOutputs.BF16 ? "combine_slots_with_norms_bf16" : "combine_slots_with_norms";
        kernels.kernel(function).launch(n, THREADS, 0, expertRows, slotRow, weight, out, n, k, width, norms);
        after(function);
    }

    /**
     * A block per token ({@code moe_epilogue}, or {@code moe_epilogue_vector} where {@link #epilogueKernel} asks for it
     * and {@link #vectorEpilogueTakes} the call): its k slot rows and x read once, x written once, the combined row
     * nowhere ({@code scratch} untouched); the slots' norms and the turn by the same read when watched (a kernel of
     * its own: the unwatched one holds no double sums).
     */
    @Override
    public void moeEpilogue(DeviceBuffer expertRows, DeviceBuffer slotRow, DeviceBuffer weight, int n, int k,
                            int width, ExpertOutputs rows, DeviceBuffer sharedRows, DeviceBuffer x, float m,
                            DeviceBuffer norms, DeviceBuffer turns, DeviceBuffer flags, int flag,
                            DeviceBuffer scratch) {
        if (n <= 0) return;
        if ((long) n * width >= 1L << 30) throw new IllegalArgumentException("a finite check of " + n + "x" + width);
        if ((norms == null) != (turns == null)) throw new IllegalArgumentException("norms and turns: both or neither");
        boolean vector = epilogueKernel == EpilogueKernel.VECTOR
                && vectorEpilogueTakes(k, width, rows, expertRows, sharedRows, x);
        String function = (vector ? "moe_epilogue_vector" : "moe_epilogue") + (norms != null ? "_watched" : "")
                + (rows == ExpertOutputs.BF16 ? "_bf16" : "");
        kernels.kernel(function).launch(n, vector ? VECTOR_EPILOGUE_THREADS : THREADS, 0, expertRows, slotRow, weight,
                n, k, width, orNull(sharedRows), x, m, orNull(norms), orNull(turns), flags, flag);
        after(function);
    }

    /**
     * Whether the vector epilogue takes a call: at most {@link #VECTOR_EPILOGUE_MAX_SLOTS} slots a token, a width that
     * is a multiple of 4 and x, the shared rows and the expert rows starting on their loads' boundaries (16 bytes; 8
     * for BF16 rows), so that every row of 4·j columns does too.
     */
    static boolean vectorEpilogueTakes(int k, int width, ExpertOutputs rows, DeviceBuffer expertRows,
                                       DeviceBuffer sharedRows, DeviceBuffer x) {
        long rowAlignment = rows == ExpertOutputs.BF16 ? 8 : 16;
        return k <= VECTOR_EPILOGUE_MAX_SLOTS && width % 4 == 0 && expertRows.address() % rowAlignment == 0
                && x.address() % 16 == 0 && (sharedRows == null || sharedRows.address() % 16 == 0);
    }

    @Override
    public void turns(DeviceBuffer h, DeviceBuffer r, DeviceBuffer turn, int n, int width) {
        warpPerRow("turns", n, h, r, turn, n, width);
    }

    // ---- routing on the device ------------------------------------------------------------------------------------

    /** Warps (tokens, or tiles of slots) per block of the routing kernels: their shared scratch is per warp. */
    private static final int ROUTING_WARPS = 4;

    @Override
    public void route(RoutingSpec spec, GroupStrategy strategy, DeviceBuffer logits, int n, DeviceBuffer selectionBias,
                      DeviceBuffer kept, DeviceBuffer ids, DeviceBuffer weights) {
        if (!spec.runsOnDevice()) throw new IllegalArgumentException("routing of " + spec.numExperts() + " experts");
        if (n <= 0) return;
        int e = spec.numExperts(), shared = ROUTING_WARPS * 4 * (2 * e + spec.nGroup());
        kernels.kernel("route_tokens").launch((n + ROUTING_WARPS - 1) / ROUTING_WARPS, ROUTING_WARPS * 32, shared,
                logits, n, e, spec.topK(), scoringCode(spec), spec.normalise() ? 1 : 0, spec.scaling(),
                spec.nGroup(), spec.topkGroup(), spec.sumTop2() ? 1 : 0, strategyCode(strategy), orNull(selectionBias),
                orNull(kept), ids, weights);
        after("route_tokens");
    }

    /** kernels.cu's ROUTE_ codes. */
    private static int scoringCode(RoutingSpec spec) {
        return switch (spec.scoring()) {
            case SOFTMAX -> 0;
            case SOFTMAX_TOPK -> 1;
            case SIGMOID -> 2;
        };
    }

    /** kernels.cu's GROUPS_ codes. */
    private static int strategyCode(GroupStrategy strategy) {
        return switch (strategy) {
            case NOGROUP -> 0;
            case BALANCED -> 1;
            case EASYEP_MUL -> 2;
        };
    }

    private static long orNull(DeviceBuffer b) {
        return b == null ? 0L : b.address();
    }

    @Override
    public void groupByExpert(DeviceBuffer ids, int slots, int k, int experts, DeviceBuffer scratch,
                              DeviceBuffer expertStart, DeviceBuffer gatherRow, DeviceBuffer slotRow) {
        if (experts > RoutingSpec.MAX_EXPERTS) throw new IllegalArgumentException("grouping of " + experts + " experts");
        if (slots <= 0) {
            zero(expertStart, 0, 4L * (experts + 1));
            return;
        }
        int tiles = (slots + GROUPING_TILE - 1) / GROUPING_TILE, blocks = (tiles + ROUTING_WARPS - 1) / ROUTING_WARPS;
        int shared = ROUTING_WARPS * 4 * experts;
        kernels.kernel("expert_tiles").launch(blocks, ROUTING_WARPS * 32, shared, ids, slots, k, experts, scratch,
                gatherRow, slotRow, 0);
        after("expert_tiles");
        kernels.kernel("expert_offsets").launch(1, THREADS, 4 * experts, scratch, tiles, experts, expertStart);
        after("expert_offsets");
        kernels.kernel("expert_tiles").launch(blocks, ROUTING_WARPS * 32, shared, ids, slots, k, experts, scratch,
                gatherRow, slotRow, 1);
        after("expert_tiles");
    }

    @Override
    public void close() {
        try {
            device.synchronize();
        } finally {
            for (long e : allEvents) rt.eventDestroy(e);
            allEvents.clear();
            device.close();   // frees the grouped products' pointer arrays and scratch with every other buffer
        }
    }
}
