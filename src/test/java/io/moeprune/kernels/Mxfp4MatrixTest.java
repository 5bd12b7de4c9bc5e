package io.moeprune.kernels;

import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.LogicalTensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MXFP4 matrices: decoding agrees with transformers' converter, and both kernels' products with a double reference. */
class Mxfp4MatrixTest {
    private static final Path QUANTIZED = Path.of("src/test/resources/conformance/quantized");

    /** The fixture's [3, 10, 64] pair, dequantised by transformers' convert_moe_packed_tensors (stored layout). */
    @Test
    void decodedRowsEqualTransformersConverter() {
        try (Checkpoint q = Checkpoint.openFile(QUANTIZED.resolve("mxfp4.safetensors"));
             Checkpoint ref = Checkpoint.openFile(QUANTIZED.resolve("mxfp4.reference.safetensors"))) {
            float[] expected = ref.tensor("gate_up_proj.dequantized").toFloatArray();
            LogicalTensor.Mxfp4 pair = (LogicalTensor.Mxfp4) q.logical().get("model.layers.0.mlp.experts.gate_up_proj");
            for (int e = 0; e < 3; e++) {
                Mxfp4Matrix m = Mxfp4Matrix.slice(pair.blocks(), pair.scales(), e);
                assertEquals(10, m.rows());
                assertEquals(64, m.cols());
                float[] rows = new float[7 * 64], vectorRows = new float[7 * 64];
                m.decodeRows(2, 9, rows);
                Kernels vector = VectorSupport.vectorKernels();
                if (vector != null) vector.mxfp4DecodeRows(m, 2, 9, vectorRows);
                for (int r = 0; r < 7; r++) {
                    float[] want = Mxfp4Matrix.deinterleave(expected, (e * 10 + 2 + r) * 64, 64);
                    assertArrayEquals(want, java.util.Arrays.copyOfRange(rows, r * 64, (r + 1) * 64), 0f, "expert " + e);
                    if (vector != null) {
                        assertArrayEquals(want, java.util.Arrays.copyOfRange(vectorRows, r * 64, (r + 1) * 64), 0f);
                    }
                }
            }
        }
    }

    @Test
    void deinterleavedInputIsEvenThenOddPerGroup() {
        float[] x = new float[70];
        for (int i = 0; i < x.length; i++) x[i] = i;
        float[] d = Mxfp4Matrix.deinterleave(x, 3, 64);
        assertEquals(3f, d[0]);
        assertEquals(5f, d[1]);
        assertEquals(33f, d[15]);
        assertEquals(4f, d[16]);
        assertEquals(34f, d[31]);
        assertEquals(35f, d[32]);
        assertEquals(66f, d[63]);
    }

    /** Every byte value and scales from 2^-27 to 2^27, rows of 1, 2 and 90 groups (gpt-oss-20b's 2880 inputs). */
    @Test
    void rowProductsMatchADoubleReferenceOnBothKernels() {
        Kernels vector = VectorSupport.vectorKernels();
        for (int cols : new int[]{32, 64, 2880}) {
            try (Arena arena = Arena.ofConfined()) {
                int rows = 37;
                Mxfp4Matrix m = random(arena, rows, cols, cols);
                float[] x = new float[cols + 5];
                Random rnd = new Random(cols + 1);
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                float[] decoded = new float[rows * cols];
                m.decodeRows(0, rows, decoded);
                float[] xd = Mxfp4Matrix.deinterleave(x, 5, cols);
                if (vector != null) {
                    float[] vectorDecoded = new float[rows * cols];
                    vector.mxfp4DecodeRows(m, 0, rows, vectorDecoded);
                    assertArrayEquals(decoded, vectorDecoded, 0f);
                }
                float[] scalar = new float[rows + 2], vec = new float[rows + 2];
                Kernels.named("scalar").mxfp4Rows(m, 3, rows, xd, scalar, 2);
                if (vector != null) vector.mxfp4Rows(m, 3, rows, xd, vec, 2);
                for (int r = 3; r < rows; r++) {
                    double want = 0, magnitude = 0;
                    for (int c = 0; c < cols; c++) {
                        want += (double) decoded[r * cols + c] * xd[c];
                        magnitude += Math.abs((double) decoded[r * cols + c] * xd[c]);
                    }
                    assertEquals(want, scalar[r - 1], 1e-6 * magnitude, "scalar row " + r + " of " + cols);
                    if (vector != null) assertEquals(want, vec[r - 1], 1e-6 * magnitude, "vector row " + r + " of " + cols);
                }
                assertEquals(0f, scalar[0]);
                assertEquals(0f, scalar[1]);
            }
        }
    }

    @Test
    void nibblesDecodeToTheE2M1Values() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment blocks = arena.allocate(16), scales = arena.allocate(1);
            for (int i = 0; i < 8; i++) blocks.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (2 * i | (2 * i + 1) << 4));
            scales.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 128);   // 2^1
            float[] row = new float[32];
            new Mxfp4Matrix(blocks, scales, 1, 32).decodeRows(0, 1, row);
            // Deinterleaved: the low nibbles (even values) first, then the high ones.
            for (int i = 0; i < 8; i++) {
                assertEquals(2 * io.moeprune.safetensors.Fp4.e2m1ToFloat(2 * i), row[i], "nibble " + 2 * i);
                assertEquals(2 * io.moeprune.safetensors.Fp4.e2m1ToFloat(2 * i + 1), row[16 + i], "nibble " + (2 * i + 1));
            }
            assertEquals(-12f, row[16 + 7]);
            assertEquals(1f, row[16]);
        }
    }

    @Test
    void shapesThatAreNotWholeGroupsAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class,
                    () -> new Mxfp4Matrix(arena.allocate(16), arena.allocate(1), 1, 48));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Mxfp4Matrix(arena.allocate(16), arena.allocate(1), 2, 32));
            assertTrue(e.getMessage().contains("needs 32 bytes of blocks and 2 scales"), e.getMessage());
        }
    }

    private static Mxfp4Matrix random(Arena arena, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        long groups = (long) rows * cols / 32;
        MemorySegment blocks = arena.allocate(groups * 16), scales = arena.allocate(groups);
        for (long i = 0; i < blocks.byteSize(); i++) blocks.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 37 + rnd.nextInt(256)));
        for (long g = 0; g < groups; g++) scales.set(java.lang.foreign.ValueLayout.JAVA_BYTE, g, (byte) (100 + rnd.nextInt(55)));
        return new Mxfp4Matrix(blocks, scales, rows, cols);
    }
}
