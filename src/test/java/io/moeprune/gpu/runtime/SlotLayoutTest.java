package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A layer slot's layout: F32, F16 and FP8 block-scaled matrices stacked into one BF16 matrix on the device (FP8 raw
 * and dequantised there), equal to the CPU's decoded weights rounded to BF16; vectors and routers in F32.
 */
class SlotLayoutTest {
    @Test
    void stackedMatricesOfEveryDtypeArriveAsTheCpuReadsThem() {
        Random r = new Random(5);
        int cols = 160;
        try (Arena arena = Arena.ofConfined(); HostOps ops = new HostOps(1L << 24)) {
            Weights f32 = matrix(arena, DType.F32, 3, cols, r), f16 = matrix(arena, DType.F16, 2, cols, r);
            Weights bf16 = matrix(arena, DType.BF16, 4, cols, r);
            Weights fp8 = matrix(arena, DType.F8_E4M3, 130, cols, r);
            float[] scales = new float[Weights.scaleRows(130) * Weights.scaleRows(cols)];
            for (int i = 0; i < scales.length; i++) scales[i] = 0.5f + i;
            fp8 = new Weights(fp8.data(), fp8.dtype(), fp8.rows(), fp8.cols(), scales);
            float[] norm = {1.5f, -2f, 3.25f};

            SlotLayout layout = new SlotLayout();
            SlotLayout.Region stacked = layout.bf16(f32, f16, bf16, fp8);
            SlotLayout.Region vector = layout.f32(norm);
            SlotLayout.Region router = layout.f32(f16);
            MemorySegment staging = ops.pinnedHost(layout.uploadBytes());
            layout.stage(staging);
            DeviceBuffer slot = ops.alloc(layout.bytes(), "slot");
            // Only the staged ranges cross (as WeightStream copies): the FP8 matrix's BF16 destination, from the end of
            // the BF16 rows before it (2 · 9 rows · 160, aligned up to 3072) to the stacked region's aligned end, stays
            // for the dequantisation to write.
            for (SlotLayout.Upload run : layout.packedUploads()) {
                ops.uploadOnCopyStream(staging.asSlice(run.stagingOffset(), run.bytes()), slot, run.slotOffset());
            }
            long fp8Destination = (2L * 139 * cols + SlotLayout.ALIGN - 1) / SlotLayout.ALIGN * SlotLayout.ALIGN - 3072;
            assertEquals(layout.bytes() - fp8Destination, layout.uploadBytes());
            layout.dequantize(ops, slot);

            MemorySegment got = arena.allocate(slot.bytes());
            ops.download(slot, 0, got);
            int row = 0;
            float[] expected = new float[cols];
            for (Weights w : new Weights[]{f32, f16, bf16, fp8}) {
                for (int i = 0; i < w.rows(); i++, row++) {
                    w.readRow(i, 0, cols, expected, 0);
                    for (int c = 0; c < cols; c++) {
                        short bits = got.get(ValueLayout.JAVA_SHORT_UNALIGNED, stacked.offset() + 2L * (row * cols + c));
                        assertEquals(HostOps.toBf16Bits(expected[c]), bits, w.dtype() + " row " + i + " col " + c);
                    }
                }
            }
            for (int i = 0; i < norm.length; i++) {
                assertEquals(norm[i], got.get(ValueLayout.JAVA_FLOAT_UNALIGNED, vector.offset() + 4L * i));
            }
            f16.readRow(1, 0, cols, expected, 0);
            assertEquals(expected[7], got.get(ValueLayout.JAVA_FLOAT_UNALIGNED, router.offset() + 4L * (cols + 7)));
            assertEquals(0, stacked.offset() % SlotLayout.ALIGN + vector.offset() % SlotLayout.ALIGN);
        }
    }

    @Test
    void gptOssExpertsArriveReorderedAndTransposed() {
        Random r = new Random(6);
        int rows = 4, cols = 64;
        int[] order = {0, 2, 1, 3};   // interleaved gate/up outputs as [gate | up]
        try (Arena arena = Arena.ofConfined(); HostOps ops = new HostOps(1L << 24)) {
            MemorySegment blocks = arena.allocate((long) rows * cols / 2), scales = arena.allocate((long) rows * cols / 32);
            for (long i = 0; i < blocks.byteSize(); i++) blocks.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
            for (long i = 0; i < scales.byteSize(); i++) scales.set(ValueLayout.JAVA_BYTE, i, (byte) (120 + r.nextInt(10)));
            Mxfp4Matrix mx = new Mxfp4Matrix(blocks, scales, rows, cols);
            Weights inputMajor = matrix(arena, DType.BF16, cols, rows, r);   // [in, out]

            SlotLayout layout = new SlotLayout();
            SlotLayout.Region a = layout.mxfp4(mx, order), b = layout.bf16Transposed(inputMajor, order);
            MemorySegment staging = ops.pinnedHost(layout.uploadBytes());
            layout.stage(staging);
            DeviceBuffer slot = ops.alloc(layout.bytes(), "slot");
            for (SlotLayout.Upload run : layout.packedUploads()) {
                ops.uploadOnCopyStream(staging.asSlice(run.stagingOffset(), run.bytes()), slot, run.slotOffset());
            }
            layout.dequantize(ops, slot);
            MemorySegment got = arena.allocate(slot.bytes());
            ops.download(slot, 0, got);

            float[] decoded = new float[rows * cols], column = new float[rows];
            mx.decodeRows(0, rows, decoded);   // per group of 32: the even columns, then the odd ones
            for (int i = 0; i < rows; i++) {
                for (int c = 0; c < cols; c++) {
                    int inGroup = c % 32, at = c - inGroup + (inGroup % 2 == 0 ? inGroup / 2 : 16 + inGroup / 2);
                    assertEquals(HostOps.toBf16Bits(decoded[order[i] * cols + at]),
                            got.get(ValueLayout.JAVA_SHORT_UNALIGNED, a.offset() + 2L * (i * cols + c)), "mxfp4 " + i + "," + c);
                }
            }
            for (int c = 0; c < cols; c++) {
                inputMajor.readRow(c, 0, rows, column, 0);
                for (int i = 0; i < rows; i++) {
                    assertEquals(HostOps.toBf16Bits(column[order[i]]),
                            got.get(ValueLayout.JAVA_SHORT_UNALIGNED, b.offset() + 2L * (i * cols + c)), "transposed " + i + "," + c);
                }
            }
        }
    }

    static Weights matrix(Arena arena, DType dtype, int rows, int cols, Random r) {
        MemorySegment data = arena.allocate((long) rows * cols * dtype.byteSize());
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) r.nextGaussian();
            switch (dtype) {
                case F32 -> data.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, v);
                case F16 -> data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, Float.floatToFloat16(v));
                case BF16 -> data.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, HostOps.toBf16Bits(v));
                default -> data.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(0x7F));
            }
        }
        return new Weights(data, dtype, rows, cols);
    }
}
