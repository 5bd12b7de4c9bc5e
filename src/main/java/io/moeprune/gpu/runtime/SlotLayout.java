package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where one layer's weights lie in a device layer slot, and how the host writes them into the pinned staging copy
 * that is uploaded as one block: BF16 matrices as stored, F32/F16 ones converted to BF16 on the host, FP8 block-scaled
 * ones raw with their F32 scales (dequantised to BF16 in the slot on the device, {@link #dequantize}), vectors (norms,
 * biases, sinks) and routers in F32; gpt-oss's experts transposed from input-major on the host, or MXFP4 raw and
 * dequantised on the device. Nothing is widened in host memory beyond one layer's staging copy.
 */
final class SlotLayout {
    /** Every region starts on this many bytes (what device kernels and copies like). */
    static final long ALIGN = 256;
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A range of a slot, in bytes from its start. */
    record Region(long offset, long bytes) {
        DeviceBuffer in(DeviceBuffer slot) {
            return new DeviceBuffer(slot.address() + offset, bytes);
        }

        long address(DeviceBuffer slot) {
            return slot.address() + offset;
        }
    }

    /**
     * Writes units [from, to) of a region into {@code seg} (the whole region's staging bytes): units are rows or bytes,
     * so a large region can be staged by several threads in ranges ({@link #stagingTasks}).
     */
    private interface Fill {
        void range(MemorySegment seg, long from, long to);
    }

    /** A region's staging write: {@code units} units of {@code fill}, none of them sharing a byte with another's. */
    private record Write(Region at, long units, Fill fill) {
        /** The whole region at once (vectors, scales: small). */
        static Write whole(Region at, Consumer<MemorySegment> fill) {
            return new Write(at, 1, (seg, from, to) -> fill.accept(seg));
        }

        /** {@code bytes} bytes of {@code src} from {@code srcOffset} copied as they are, split by byte ranges. */
        static Write copy(Region at, MemorySegment src, long srcOffset, long bytes) {
            return new Write(at, bytes, (seg, from, to) -> MemorySegment.copy(src, srcOffset + from, seg, from, to - from));
        }
    }

    /** A matrix uploaded raw (FP8 with scales, MXFP4 blocks with scales), to dequantise into its BF16 place. */
    private interface Dequant {
        void run(DeviceOps ops, DeviceBuffer slot);
    }

    private final List<Write> writes = new ArrayList<>();
    private final List<Dequant> dequants = new ArrayList<>();
    private long bytes;

    /** Bytes of the slot this layout needs. */
    long bytes() {
        return bytes;
    }

    private Region reserve(long size) {
        Region r = new Region(bytes, size);
        bytes += (size + ALIGN - 1) / ALIGN * ALIGN;
        return r;
    }

    /** A vector (norm weight, bias, sinks, rope frequencies) in F32. */
    Region f32(float[] v) {
        Region r = reserve(4L * v.length);
        writes.add(Write.whole(r, seg -> MemorySegment.copy(v, 0, seg, FLOAT_LE, 0, v.length)));
        return r;
    }

    /** A matrix in F32 (routers: the CPU computes them in F32 too), converted row by row while staging. */
    Region f32(Weights w) {
        Region r = reserve(4L * w.rows() * w.cols());
        writes.add(new Write(r, w.rows(), (seg, from, to) -> {
            float[] row = new float[w.cols()];
            for (int i = (int) from; i < to; i++) {
                w.readRow(i, 0, w.cols(), row, 0);
                MemorySegment.copy(row, 0, seg, FLOAT_LE, 4L * i * w.cols(), w.cols());
            }
        }));
        return r;
    }

    /**
     * Matrices of equal width stacked row-wise into one BF16 matrix (an expert's gate over its up: one product gives
     * [gate | up] per token).
     */
    Region bf16(Weights... parts) {
        int cols = parts[0].cols();
        long rows = 0;
        for (Weights w : parts) {
            if (w.cols() != cols) throw new IllegalArgumentException("stacked matrices of widths " + cols + " and " + w.cols());
            rows += w.rows();
        }
        Region dst = reserve(2L * rows * cols);
        long at = dst.offset();
        for (Weights w : parts) {
            Region part = new Region(at, 2L * w.rows() * cols);
            switch (w.dtype()) {
                case BF16 -> writes.add(Write.copy(part, w.data(), 0, w.byteSize()));
                case F32, F16 -> writes.add(new Write(part, w.rows(), (seg, from, to) ->
                        writeBf16Rows(w, (int) from, (int) to, seg.asSlice(2L * from * cols))));
                case F8_E4M3 -> {
                    Region raw = reserve(w.byteSize());
                    writes.add(Write.copy(raw, w.data(), 0, w.byteSize()));
                    Region scales = f32(scales(w));
                    dequants.add((ops, slot) -> ops.dequantFp8Blocks(raw.in(slot), scales.in(slot), part.in(slot),
                            w.rows(), cols, Weights.SCALE_BLOCK));
                }
                default -> throw new MoepruneException("--device cuda does not run " + w.dtype() + " weights yet");
            }
            at += part.bytes();
        }
        return dst;
    }

    /**
     * An input-major matrix [in, out] (gpt-oss's BF16 experts) as an output-major BF16 one [out, in] whose row r is
     * output {@code order[r]} (de-interleaving gate and up), transposed on the host while staging.
     */
    Region bf16Transposed(Weights inputMajor, int[] order) {
        int in = inputMajor.rows(), out = inputMajor.cols();
        Region dst = reserve(2L * in * out);
        writes.add(new Write(dst, in, (seg, from, to) -> {
            float[] row = new float[out];
            for (int i = (int) from; i < to; i++) {
                inputMajor.readRow(i, 0, out, row, 0);
                for (int r = 0; r < out; r++) seg.set(SHORT_LE, 2L * ((long) r * in + i), HostOps.toBf16Bits(row[order[r]]));
            }
        }));
        return dst;
    }

    /**
     * An MXFP4 matrix [rows, cols] uploaded raw (blocks and E8M0 scales, row r being stored row {@code order[r]}) and
     * dequantised to BF16 in the slot ({@code dequantMxfp4}): never widened in host memory.
     */
    Region mxfp4(Mxfp4Matrix m, int[] order) {
        int rows = m.rows(), groups = m.groupsPerRow();
        long blockRow = (long) groups * Mxfp4Matrix.GROUP_BYTES;
        Region dst = reserve(2L * rows * m.cols());
        Region blocks = reserve(rows * blockRow), scales = reserve((long) rows * groups);
        writes.add(new Write(blocks, rows, (seg, from, to) -> {
            for (int r = (int) from; r < to; r++) {
                MemorySegment.copy(m.blocks(), order[r] * blockRow, seg, r * blockRow, blockRow);
            }
        }));
        writes.add(new Write(scales, rows, (seg, from, to) -> {
            for (int r = (int) from; r < to; r++) {
                MemorySegment.copy(m.scales(), (long) order[r] * groups, seg, (long) r * groups, groups);
            }
        }));
        dequants.add((ops, slot) -> ops.dequantMxfp4(blocks.in(slot), scales.in(slot), dst.in(slot), rows, m.cols()));
        return dst;
    }

    /** Rows in stored order. */
    static int[] identity(int n) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        return order;
    }

    /** The block scales of FP8 weights (1 for every block when the checkpoint has none). */
    private static float[] scales(Weights w) {
        if (w.blockScales() != null) return w.blockScales();
        float[] ones = new float[Weights.scaleRows(w.rows()) * Weights.scaleRows(w.cols())];
        Arrays.fill(ones, 1f);
        return ones;
    }

    /** Rows [r0, r1) of w as BF16 (round to nearest even, as the device's conversions) into seg from its start. */
    static void writeBf16Rows(Weights w, int r0, int r1, MemorySegment seg) {
        float[] row = new float[w.cols()];
        for (int r = r0; r < r1; r++) {
            w.readRow(r, 0, w.cols(), row, 0);
            long base = 2L * (r - r0) * w.cols();
            for (int c = 0; c < row.length; c++) seg.set(SHORT_LE, base + 2L * c, HostOps.toBf16Bits(row[c]));
        }
    }

    /**
     * The ranges of the slot the staging copy fills, adjacent ones merged (each to its region's aligned end): what is
     * uploaded. The rest (the BF16 matrices that FP8 or MXFP4 weights are dequantised into) is written on the device,
     * so it does not cross the bus: for DeepSeek-V3's FP8 experts that is two thirds of the slot.
     */
    List<Region> uploads() {
        List<Region> written = writes.stream().map(Write::at)
                .sorted(java.util.Comparator.comparingLong(Region::offset)).toList();
        List<Region> runs = new ArrayList<>();
        long from = -1, to = -1;
        for (Region w : written) {
            long end = (w.offset() + w.bytes() + ALIGN - 1) / ALIGN * ALIGN;
            if (from >= 0 && w.offset() <= to) {
                to = Math.max(to, end);
                continue;
            }
            if (from >= 0) runs.add(new Region(from, to - from));
            from = w.offset();
            to = end;
        }
        if (from >= 0) runs.add(new Region(from, to - from));
        return runs;
    }

    /** Bytes {@link #uploads} covers: the size of the packed staging copy ({@link #stage}). */
    long uploadBytes() {
        return uploads().stream().mapToLong(Region::bytes).sum();
    }

    /**
     * One run of {@link #uploads} in the packed staging copy: {@code bytes} from {@code stagingOffset} of the staging
     * buffer go to {@code slotOffset} of the slot.
     */
    record Upload(long stagingOffset, long slotOffset, long bytes) {
    }

    /** {@link #uploads} with where each run lies in the packed staging copy (runs end to end, in slot order). */
    List<Upload> packedUploads() {
        List<Upload> packed = new ArrayList<>();
        long at = 0;
        for (Region run : uploads()) {
            packed.add(new Upload(at, run.offset(), run.bytes()));
            at += run.bytes();
        }
        return packed;
    }

    /**
     * Writes every region's bytes into {@code staging} (at least {@link #uploadBytes} long), packed: the runs of
     * {@link #packedUploads} end to end, so a layer's pinned staging holds only what crosses the bus (for DeepSeek-V3's
     * FP8 experts a third of the slot).
     */
    void stage(MemorySegment staging) {
        for (Runnable task : stagingTasks(staging, Long.MAX_VALUE)) task.run();
    }

    /**
     * {@link #stage} as independent tasks of about {@code pieceBytes} each (no two write the same byte, so they may
     * run on several threads in any order): a region larger than that split into ranges of its rows (or bytes), so
     * that one large expert tensor is not one thread's job; smaller regions grouped, in order, so that a task is
     * worth handing to a thread.
     */
    List<Runnable> stagingTasks(MemorySegment staging, long pieceBytes) {
        List<Upload> runs = packedUploads();
        long[] starts = runs.stream().mapToLong(Upload::slotOffset).toArray();
        List<Runnable> tasks = new ArrayList<>();
        List<Runnable> group = new ArrayList<>();
        long grouped = 0;
        for (Write w : writes) {
            int i = Arrays.binarySearch(starts, w.at().offset());
            if (i < 0) i = -i - 2;   // the run that starts before the region holds it
            Upload run = runs.get(i);
            MemorySegment seg = staging.asSlice(run.stagingOffset() + w.at().offset() - run.slotOffset(), w.at().bytes());
            if (w.at().bytes() < pieceBytes) {
                group.add(() -> w.fill().range(seg, 0, w.units()));
                grouped += w.at().bytes();
                if (grouped >= pieceBytes) {
                    tasks.add(inOrder(group));
                    group = new ArrayList<>();
                    grouped = 0;
                }
                continue;
            }
            long pieces = Math.min(w.units(), Math.ceilDiv(w.at().bytes(), pieceBytes));
            for (long p = 0; p < pieces; p++) {
                long from = w.units() * p / pieces, to = w.units() * (p + 1) / pieces;
                tasks.add(() -> w.fill().range(seg, from, to));
            }
        }
        if (!group.isEmpty()) tasks.add(inOrder(group));
        return tasks;
    }

    private static Runnable inOrder(List<Runnable> group) {
        return () -> group.forEach(Runnable::run);
    }

    /** Queues the dequantisations (FP8, MXFP4) of the slot holding this layout (after its copy has landed). */
    void dequantize(DeviceOps ops, DeviceBuffer slot) {
        for (Dequant d : dequants) d.run(ops, slot);
    }
}
