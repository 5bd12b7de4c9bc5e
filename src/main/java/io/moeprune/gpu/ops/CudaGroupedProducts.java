package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.cuda.Cublas;
import io.moeprune.gpu.ops.CudaOps.GroupedPath;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static io.moeprune.gpu.ops.CudaOps.THREADS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The experts' grouped products of {@link CudaOps} ({@link DeviceOps#groupedLinear}): all experts of a layer, each its
 * own rows, BF16 inputs, F32 or BF16 outputs ({@link ExpertOutputs}: cuBLAS rounds its F32 accumulation), on the
 * path {@link GroupedPath} names, with the pointer arrays and scratch those paths keep between calls. CudaOps owns
 * one and delegates to it; the kernels it launches and the post-launch check ({@code -Dmoeprune.cudaDebug}) are
 * CudaOps's. Its buffers are the device's: {@link GpuDevice#close} (at
 * {@link CudaOps#close}) frees them with every other buffer.
 */
final class CudaGroupedProducts {
    /**
     * Most rows of a problem of the gemv kernel (kernels.cu's {@code GEMV_MAX_ROWS}: one instance of the kernel's body
     * per count). An expert with more is split into pieces of at most this many rows, each reading the expert's
     * weights once more; a call of more than 1.5 pieces an expert ({@link #gemvPieces}) runs as {@code auto}. A
     * decode step of 32 sequences, top-8 of 128 experts, gives ~2 rows an expert, rarely above 7.
     */
    static final int GEMV_MAX_ROWS = 8;
    /**
     * The gemv kernel's block: its threads and output rows (kernels.cu's {@code GEMV_WARPS} warps of
     * {@code GEMV_ROWS_PER_WARP} rows), and the input columns it stages in shared memory at a time
     * ({@code GEMV_TILE}).
     */
    private static final int GEMV_THREADS = 256, GEMV_BLOCK_ROWS = 32, GEMV_TILE = 2048;
    /** Most blocks of a grid's y dimension (the gemv kernel's problems; more are launched in turns). */
    private static final int MAX_GRID_Y = 65535;
    private final GpuDevice device;
    /** The launches and the post-launch check these products share with the rest of CudaOps. */
    private final CudaOps ops;
    /**
     * Device arrays of the experts' products' pointers (and the batched path's copy-out table, the gemv kernel's
     * table).
     */
    private final PointerArrays pointers;
    /** The pointer arrays of the current {@link #groupedLinear} call (reserved at its start, never grown after). */
    private DeviceBuffer pointerArrays;

    private GroupedPath groupedPath = GroupedPath.fromProperties();
    /** Whether cuBLAS took each kind of call (null until first tried; false: refused, not tried again). */
    private Boolean groupedProducts, groupedBf16Products, batchedProducts, batchedBf16Products;
    /** What the last {@link #groupedLinear} ran (see {@link #groupedPath()}). */
    private String lastGroupedPath = "not run yet";
    private DeviceBuffer groupedBf16Scratch, batchedScratch;
    /**
     * Whether the batched path may give a bucket an early call ({@link BatchedLayout}): fewer rows copied out, up to
     * twice the calls, each with fewer experts ({@code -Dmoeprune.batchedEarlyCalls=false}: one call a bucket).
     */
    private boolean batchedEarlyCalls = !"false".equals(System.getProperty("moeprune.batchedEarlyCalls"));

    CudaGroupedProducts(GpuDevice device, CudaOps ops) {
        this.device = device;
        this.ops = ops;
        this.pointers = new PointerArrays(ops);
    }

    /** Allocates the pointer arrays for calls of up to {@code problems} experts now ({@link PointerArrays}). */
    DeviceOps.Reservation reserve(int problems) {
        return pointers.hold(problems);
    }

    void groupedLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        int count = 0;
        for (int r : rows) if (r > 0) count++;
        if (count == 0) return;
        // Before the batched path sizes its scratch from what the bound leaves: a no-op where the run reserved them.
        pointerArrays = pointers.reserve(rows.length);
        lastGroupedPath = "";
        boolean bf16 = outputs == ExpertOutputs.BF16;
        String gemvRefused = null;
        boolean done = switch (groupedPath) {
            case PER_EXPERT -> false;
            case BATCHED -> batched(rows, out, in, w, x, y, outputs);
            case GROUPED -> grouped(rows, count, out, in, w, x, y, outputs);
            // BF16 outputs asked for: the grouped call writes them where they go, nothing to widen.
            case GROUPED_BF16 -> bf16 ? grouped(rows, count, out, in, w, x, y, outputs)
                    : groupedWithBf16Outputs(rows, count, out, in, w, x, y)
                    || grouped(rows, count, out, in, w, x, y, outputs);
            case GEMV -> {
                int pieces = gemvPieces(rows);
                if (2L * pieces <= 3L * rows.length) yield gemv(rows, pieces, out, in, w, x, y, outputs);
                gemvRefused = "gemv: " + pieces + " pieces of at most " + GEMV_MAX_ROWS + " rows for " + rows.length
                        + " experts, beyond 1.5 an expert";
                yield batched(rows, out, in, w, x, y, outputs) || grouped(rows, count, out, in, w, x, y, outputs);
            }
            // A decode step's few rows an expert: one launch of the gemv kernel (2026-12-07, H100, Qwen3-30B-A3B's
            // 256 slots over 128 experts: 0.29 + 0.18 ms a layer against the batched path's 0.46 + 0.34).
            case AUTO -> autoTakesGemv(rows) ? gemv(rows, gemvPieces(rows), out, in, w, x, y, outputs)
                    : batched(rows, out, in, w, x, y, outputs) || grouped(rows, count, out, in, w, x, y, outputs);
        };
        if (!done) perProblemLinear(rows, out, in, w, x, y, outputs);
        if (gemvRefused != null) lastGroupedPath += " (" + gemvRefused + ")";
    }

    /** Whether {@code auto} runs {@code rows} on the gemv kernel: some rows, and none of them past one piece. */
    static boolean autoTakesGemv(int[] rows) {
        int most = 0;
        for (int r : rows) most = Math.max(most, r);
        return most > 0 && most <= GEMV_MAX_ROWS;
    }

    /**
     * The gemv kernel's problems for {@code rows}: each expert's rows in pieces of at most {@link #GEMV_MAX_ROWS}. The
     * path takes up to 1.5 pieces an expert: the layer's weights read 1.5 times at most (beyond, cuBLAS's paths read
     * them once), and the table's 4 longs a piece within the pointer arrays' 6 an expert
     * ({@link PointerArrays#bytes}).
     */
    static int gemvPieces(int[] rows) {
        int pieces = 0;
        for (int r : rows) pieces += (r + GEMV_MAX_ROWS - 1) / GEMV_MAX_ROWS;
        return pieces;
    }

    /** cuBLAS's type of {@code outputs}. */
    private static int cublasType(ExpertOutputs outputs) {
        return outputs == ExpertOutputs.BF16 ? Cublas.R_16BF : Cublas.R_32F;
    }

    /** Allows or forbids the batched path's early calls (the speed table compares them). */
    void batchedEarlyCalls(boolean on) {
        batchedEarlyCalls = on;
    }

    /** Forces how {@link #groupedLinear} runs (benchmarks and tests compare the paths). */
    void groupedPath(GroupedPath path) {
        groupedPath = path;
    }

    /**
     * The pointer arrays (and tables) of {@code values} in device memory, in stream order: the address of the first.
     * From pageable memory the copy is staged before cudaMemcpyAsync returns, so the host array may go at once.
     */
    private long devicePointers(long[] values) {
        if (8L * values.length > pointerArrays.bytes()) {
            throw new IllegalStateException(values.length + " pointers beyond the reserved " + pointerArrays.bytes()
                    + " bytes");
        }
        if (values.length > 0) {
            try (Arena a = Arena.ofConfined()) {
                device.upload(a.allocateFrom(JAVA_LONG, values), pointerArrays, 0, device.stream());
            }
        }
        return pointerArrays.address();
    }

    /** A scratch of at least {@code bytes}, grown from {@code held} (freed) when smaller; null beyond the bound. */
    private DeviceBuffer scratch(DeviceBuffer held, long bytes, String what) {
        if (held != null && held.bytes() >= bytes) return held;
        if (held != null) device.free(held);
        try {
            return device.alloc(bytes, what);
        } catch (MoepruneException e) {
            return null;   // beyond the --gpu-memory bound: the caller takes another path
        }
    }

    /** One grouped cuBLAS call with outputs of {@code outputs}; false when cuBLAS refuses it. */
    private boolean grouped(int[] rows, int count, int out, int in, long[] w, long[] x, long[] y,
                            ExpertOutputs outputs) {
        boolean bf16 = outputs == ExpertOutputs.BF16;
        if (Boolean.FALSE.equals(bf16 ? groupedBf16Products : groupedProducts)) return false;
        int[] liveRows = new int[count];
        long[] pointers = new long[3 * count];
        for (int p = 0, i = 0; p < rows.length; p++) {
            if (rows[p] == 0) continue;
            liveRows[i] = rows[p];
            pointers[i] = w[p];
            pointers[count + i] = x[p];
            pointers[2 * count + i] = y[p];
            i++;
        }
        long base = devicePointers(pointers);
        boolean ok = device.cublas().groupedLinear(device.blas(), count, liveRows, out, in, base, Cublas.R_16BF,
                base + 8L * count, Cublas.R_16BF, base + 16L * count, cublasType(outputs));
        if (bf16) groupedBf16Products = ok;
        else groupedProducts = ok;
        if (!ok) return false;
        lastGroupedPath = bf16 ? "cuBLAS grouped, BF16 outputs" : "cuBLAS grouped";
        ops.after("groupedLinear (grouped)");
        return true;
    }

    /**
     * Every expert of the call in one launch of kernels.cu's {@code grouped_gemv} ({@code grouped_gemv_bf16} for BF16
     * outputs), in {@code pieces} problems of at most {@link #GEMV_MAX_ROWS} rows ({@link #gemvPieces}): a table of
     * the pieces' W, x, y and row counts, uploaded in stream order as the other paths' pointer arrays; a block per 32
     * output rows of a piece, its input rows staged in dynamic shared memory (its most rows × min(in, 2048) BF16, at
     * most 32 KB); 16-byte loads where {@code in} is a multiple of 8 and every W and x is 16-byte aligned (then every
     * piece's rows are), else the scalar path. Never refuses: its own kernel, no cuBLAS, no scratch.
     */
    private boolean gemv(int[] rows, int pieces, int out, int in, long[] w, long[] x, long[] y,
                         ExpertOutputs outputs) {
        long[] table = new long[4 * pieces];
        boolean vectors = in % 8 == 0;
        int most = 0;
        for (int p = 0, i = 0; p < rows.length; p++) {
            vectors &= rows[p] == 0 || ((w[p] | x[p]) & 15) == 0;
            for (int first = 0; first < rows[p]; first += GEMV_MAX_ROWS, i++) {
                int n = Math.min(GEMV_MAX_ROWS, rows[p] - first);
                table[i] = w[p];
                table[pieces + i] = x[p] + 2L * first * in;
                table[2 * pieces + i] = y[p] + (long) outputs.bytes() * first * out;
                table[3 * pieces + i] = n;
                most = Math.max(most, n);
            }
        }
        long base = devicePointers(table);
        int blocks = (out + GEMV_BLOCK_ROWS - 1) / GEMV_BLOCK_ROWS, shared = 2 * most * Math.min(in, GEMV_TILE);
        String kernel = outputs == ExpertOutputs.BF16 ? "grouped_gemv_bf16" : "grouped_gemv";
        for (int first = 0; first < pieces; first += MAX_GRID_Y) {
            ops.kernel(kernel).launch(blocks, Math.min(MAX_GRID_Y, pieces - first), 1, GEMV_THREADS, 1, 1, shared,
                    new Object[]{base, pieces, first, out, in, vectors ? 1 : 0});
        }
        lastGroupedPath = "gemv kernel: " + pieces + " problems of at most " + most + " rows"
                + (vectors ? "" : ", scalar loads");
        ops.after("groupedLinear (gemv)");
        return true;
    }

    /**
     * {@link DeviceOps#groupedLinearRouted}: one launch of kernels.cu's {@code grouped_gemv_routed}
     * ({@code grouped_gemv_routed_bf16} for BF16 outputs), a block per 32 output rows of each of the {@code experts}
     * experts, each block reading its expert's count from {@code expertStart} and running its rows in pieces of at
     * most {@link #GEMV_MAX_ROWS}; dynamic shared memory for min(mostRows, GEMV_MAX_ROWS) rows × min(in, 2048) BF16.
     * No table upload (the weights' addresses are the caller's device table), no cuBLAS, nothing the host waits for.
     */
    void routed(DeviceBuffer expertStart, DeviceBuffer weights, int experts, DeviceBuffer x, DeviceBuffer y, int out,
                int in, int mostRows, ExpertOutputs outputs) {
        if (experts <= 0 || mostRows <= 0 || out <= 0) return;
        if (experts > MAX_GRID_Y) throw new IllegalArgumentException(experts + " experts beyond " + MAX_GRID_Y);
        int blocks = (out + GEMV_BLOCK_ROWS - 1) / GEMV_BLOCK_ROWS;
        int shared = 2 * Math.min(mostRows, GEMV_MAX_ROWS) * Math.min(in, GEMV_TILE);
        String kernel = outputs == ExpertOutputs.BF16 ? "grouped_gemv_routed_bf16" : "grouped_gemv_routed";
        ops.kernel(kernel).launch(blocks, experts, 1, GEMV_THREADS, 1, 1, shared,
                new Object[]{expertStart, weights, x, y, out, in});
        lastGroupedPath = "gemv kernel, counts on the device: " + experts + " experts of at most " + mostRows + " rows";
        ops.after("groupedLinearRouted");
    }

    /**
     * One grouped cuBLAS call writing BF16 outputs into a contiguous scratch, then widened into each problem's F32
     * rows (one launch when the outputs are contiguous too, as the pass's are). False when cuBLAS refuses it.
     */
    private boolean groupedWithBf16Outputs(int[] rows, int count, int out, int in, long[] w, long[] x, long[] y) {
        if (Boolean.FALSE.equals(groupedBf16Products)) return false;
        int[] liveRows = new int[count];
        long totalRows = 0;
        for (int r : rows) totalRows += r;
        groupedBf16Scratch = scratch(groupedBf16Scratch, 2L * totalRows * out, "the grouped products' BF16 outputs");
        if (groupedBf16Scratch == null) return false;
        long[] offsets = new long[rows.length];
        long[] pointers = new long[3 * count];
        boolean contiguous = true;
        long first = -1, done = 0;
        for (int p = 0, i = 0; p < rows.length; p++) {
            if (rows[p] == 0) continue;
            if (first < 0) first = y[p];
            contiguous &= y[p] == first + 4L * out * done;
            liveRows[i] = rows[p];
            offsets[p] = 2L * out * done;
            pointers[i] = w[p];
            pointers[count + i] = x[p];
            pointers[2 * count + i] = groupedBf16Scratch.address() + offsets[p];
            done += rows[p];
            i++;
        }
        long base = devicePointers(pointers);
        groupedBf16Products = device.cublas().groupedLinear(device.blas(), count, liveRows, out, in, base,
                Cublas.R_16BF, base + 8L * count, Cublas.R_16BF, base + 16L * count, Cublas.R_16BF);
        if (!groupedBf16Products) return false;
        if (contiguous) {
            ops.elementwise("from_bf16_kernel", totalRows * out, groupedBf16Scratch, first, totalRows * out);
        } else {
            for (int p = 0; p < rows.length; p++) {
                if (rows[p] == 0) continue;
                long n = (long) rows[p] * out;
                ops.elementwise("from_bf16_kernel", n, groupedBf16Scratch.address() + offsets[p], y[p], n);
            }
        }
        lastGroupedPath = "cuBLAS grouped, BF16 outputs";
        ops.after("groupedLinear (BF16 outputs)");
        return true;
    }

    /**
     * The experts in buckets of one padded row count, one {@code cublasGemmBatchedEx} (BF16 → F32, or → BF16) a
     * bucket; padded problems write into a scratch of the outputs' type whose live rows one {@code copy_rows_out}
     * ({@code copy_rows_out_bf16}) launch moves out (see
     * {@link BatchedLayout}); problems the layout cannot place, one product each. False when cuBLAS refuses the
     * call (nothing has run then) or the scratch does not fit the memory bound.
     */
    private boolean batched(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        boolean bf16 = outputs == ExpertOutputs.BF16;
        if (Boolean.FALSE.equals(bf16 ? batchedBf16Products : batchedProducts)) return false;
        long rowBytes = (long) outputs.bytes() * out;
        if (!aligned(rows, out, in, w, x, y, outputs)) {
            lastGroupedPath = "batched: rows not 16-byte aligned";
            return false;
        }
        ExpertBuckets plan = ExpertBuckets.of(rows);
        // The scratch takes what the memory bound leaves (the pass's plan took its share first); the padded problems
        // beyond it run one product each.
        long held = batchedScratch == null ? 0 : (batchedScratch.bytes() + 255) & ~255L;
        long free = device.limitBytes() - device.allocatedBytes() + held - 256;
        BatchedLayout layout = BatchedLayout.of(plan, rows, in, out, x, y, Math.max(0, free) / rowBytes,
                batchedEarlyCalls, outputs);
        if (layout.scratchRows() > 0) {
            batchedScratch = scratch(batchedScratch, layout.scratchRows() * rowBytes,
                    "the batched experts' padded outputs");
            if (batchedScratch == null) {
                lastGroupedPath = "batched: its scratch beyond the memory bound";   // named by the fallback that runs
                return false;
            }
        }
        long scratchBase = batchedScratch == null ? 0 : batchedScratch.address();
        // One upload: each call's W, x, y pointer arrays, then the copy-out table (scratch rows, outputs, counts).
        int copies = layout.copies().size();
        long[] table = new long[3 * layout.placed() + 3 * copies];
        int at = 0;
        for (BatchedLayout.Call call : layout.calls()) {
            int n = call.problems().size();
            for (int i = 0; i < n; i++) {
                BatchedLayout.Placement pl = call.problems().get(i);
                table[at + i] = w[pl.problem()];
                table[at + n + i] = pl.x();
                table[at + 2 * n + i] = pl.direct() ? pl.y() : scratchBase + pl.scratchRow() * rowBytes;
            }
            at += 3 * n;
        }
        for (int c = 0; c < copies; c++) {
            BatchedLayout.Copy copy = layout.copies().get(c);
            table[at + c] = copy.scratchRow();
            table[at + copies + c] = copy.y();
            table[at + 2 * copies + c] = copy.rows();
        }
        long base = devicePointers(table);
        List<BatchedLayout.Call> refused = new ArrayList<>();
        long callBase = base;
        for (BatchedLayout.Call call : layout.calls()) {
            int n = call.problems().size();
            boolean ok = device.cublas().batchedLinear(device.blas(), n, call.rows(), out, in, callBase,
                    Cublas.R_16BF, callBase + 8L * n, Cublas.R_16BF, callBase + 16L * n, cublasType(outputs));
            if (!ok && (bf16 ? batchedBf16Products : batchedProducts) == null) {
                // refused at the first call: nothing has run
                if (bf16) batchedBf16Products = false;
                else batchedProducts = false;
                return false;
            }
            if (bf16) batchedBf16Products = true;
            else batchedProducts = true;
            if (!ok) refused.add(call);
            callBase += 24L * n;
        }
        if (copies > 0) {
            long copyTable = base + 8L * at;
            int maxRows = 0;
            for (BatchedLayout.Copy copy : layout.copies()) maxRows = Math.max(maxRows, copy.rows());
            // A thread moves 16 bytes.
            int gx = (int) Math.min(1024, Math.max(1, (maxRows * rowBytes / 16 + THREADS - 1) / THREADS));
            for (int first = 0; first < copies; first += 65535) {
                ops.kernel(bf16 ? "copy_rows_out_bf16" : "copy_rows_out").launch(gx, Math.min(65535, copies - first),
                        1, THREADS, 1, 1, 0, new Object[]{batchedScratch, copyTable, copies, first, out});
            }
        }
        // After the copy-out, so that its rows of a refused call's problems do not overwrite these.
        for (int p : layout.alone()) problemLinear(p, rows, out, in, w, x, y, outputs);
        for (BatchedLayout.Call call : refused) {
            for (BatchedLayout.Placement pl : call.problems()) {
                problemLinear(pl.problem(), rows, out, in, w, x, y, outputs);
            }
        }
        int alone = layout.alone().length;
        for (BatchedLayout.Call call : refused) alone += call.problems().size();
        lastGroupedPath = "cuBLAS batched" + (bf16 ? " (BF16 outputs)" : "") + ": " + layout.calls().size()
                + " calls, rows padded to " + plan.granularity()
                + (copies > 0 ? ", " + copies + " copied out" : "")
                + (alone > 0 ? ", " + alone + " experts one product each" : "");
        ops.after("groupedLinear (batched)");
        return true;
    }

    /**
     * Whether every matrix and row the batched calls address is 16-byte aligned: cuBLAS cannot see the addresses in
     * a device pointer array (GemmEx checks its own and picks a slower kernel), and the shifted and scratch rows are
     * aligned when rows are (in a multiple of 8 BF16, out of 16 bytes: 4 F32 or 8 BF16).
     */
    private static boolean aligned(int[] rows, int out, int in, long[] w, long[] x, long[] y,
                                   ExpertOutputs outputs) {
        if (in % 8 != 0 || (long) out * outputs.bytes() % 16 != 0) return false;
        for (int p = 0; p < rows.length; p++) {
            if (rows[p] > 0 && ((w[p] | x[p] | y[p]) & 15) != 0) return false;
        }
        return true;
    }

    private void problemLinear(int p, int[] rows, int out, int in, long[] w, long[] x, long[] y,
                               ExpertOutputs outputs) {
        device.cublas().linear(device.blas(), rows[p], out, in, 1f, w[p], Cublas.R_16BF, x[p], Cublas.R_16BF, 0f,
                y[p], cublasType(outputs), out);
    }

    /** The fallback of {@link #groupedLinear}: one cuBLAS product per non-empty problem. */
    private void perProblemLinear(int[] rows, int out, int in, long[] w, long[] x, long[] y, ExpertOutputs outputs) {
        for (int p = 0; p < rows.length; p++) if (rows[p] > 0) problemLinear(p, rows, out, in, w, x, y, outputs);
        lastGroupedPath = lastGroupedPath.startsWith("batched: ") ? "one product per expert (" + lastGroupedPath + ")"
                : "one product per expert";
        ops.after("groupedLinear (one product per problem)");
    }

    /** What the last {@link #groupedLinear} ran (the names: {@link CudaOps#groupedPath()}). */
    String groupedPath() {
        return lastGroupedPath;
    }
}
