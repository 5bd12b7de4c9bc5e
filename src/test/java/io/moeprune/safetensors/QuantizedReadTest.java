package io.moeprune.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FP8 block-scaled and MXFP4 tensors decode to what transformers/torch computed (quantized/*.reference). */
class QuantizedReadTest {
    static final Path QUANTIZED = ConformanceReadTest.CONFORMANCE.resolve("quantized");

    @Test
    void fp8BlockScaledWeightMatchesReference() {
        try (Checkpoint q = Checkpoint.openFile(QUANTIZED.resolve("fp8.safetensors"));
             Checkpoint ref = Checkpoint.openFile(QUANTIZED.resolve("fp8.reference.safetensors"))) {
            LogicalTensors l = q.logical();
            assertEquals(List.of("model.layers.0.mlp.experts.0.up_proj.weight", "e4m3_plain", "e5m2"), l.names());
            LogicalTensor w = l.get("model.layers.0.mlp.experts.0.up_proj.weight");
            LogicalTensor.Fp8Blocks f = assertInstanceOf(LogicalTensor.Fp8Blocks.class, w);
            assertFalse(f.perTensorScale());
            assertEquals(128, f.blockRows());
            assertArrayEquals(new long[]{200, 300}, w.shape());
            assertEquals("F8_E4M3 (128x128 block scales)", w.dtypeLabel());
            assertEquals(60000 + 24, w.storedBytes());
            float[] expected = ref.tensor("up_proj.dequantized").toFloatArray();
            assertArrayEquals(expected, w.toFloatArray(), 1e-6f);
            assertRangesAgree(w, expected, 200);
            assertArrayEquals(ref.tensor("e5m2.f32").toFloatArray(), l.get("e5m2").toFloatArray(), 0f);
            assertArrayEquals(ref.tensor("e4m3_plain.f32").toFloatArray(), l.get("e4m3_plain").toFloatArray(), 0f);
            assertEquals("model.layers.0.mlp.experts.0.up_proj.weight",
                    l.ownerOf("model.layers.0.mlp.experts.0.up_proj.weight_scale_inv").orElseThrow());
        }
    }

    @Test
    void mxfp4PairMatchesTransformersConverter() {
        try (Checkpoint q = Checkpoint.openFile(QUANTIZED.resolve("mxfp4.safetensors"));
             Checkpoint ref = Checkpoint.openFile(QUANTIZED.resolve("mxfp4.reference.safetensors"))) {
            LogicalTensors l = q.logical();
            assertEquals(List.of("model.layers.0.mlp.experts.gate_up_proj"), l.names());
            LogicalTensor t = l.get("model.layers.0.mlp.experts.gate_up_proj");
            assertEquals(LogicalTensor.Encoding.MXFP4, t.encoding());
            assertArrayEquals(new long[]{3, 10, 64}, t.shape());
            assertArrayEquals(ref.tensor("gate_up_proj.dequantized").shape(), t.shape());
            float[] expected = ref.tensor("gate_up_proj.dequantized").toFloatArray();
            assertArrayEquals(expected, t.toFloatArray(), 0f);
            assertRangesAgree(t, expected, 300);
        }
    }

    /** A 3-D FP8 tensor (fused experts) with per-matrix block scales and a ragged last block. */
    @Test
    void fp8ThreeDimensionalBlocksWithRaggedEdges(@TempDir Path tmp) throws IOException {
        int e = 2, rows = 5, cols = 7, br = 2, bc = 3;
        Random rnd = new Random(5);
        byte[] w = new byte[e * rows * cols];
        for (int i = 0; i < w.length; i++) {
            int b;
            do { b = rnd.nextInt(256); } while ((b & 0x7f) == 0x7f);   // skip NaN encodings
            w[i] = (byte) b;
        }
        int sr = 3, sc = 3;
        float[] s = new float[e * sr * sc];
        for (int i = 0; i < s.length; i++) s[i] = 0.5f + i;
        Path file = tmp.resolve("model.safetensors");
        try (SafetensorsWriter out = new SafetensorsWriter(tmp, 1 << 20, Map.of())) {
            out.add("x.weight", DType.F8_E4M3, new long[]{e, rows, cols}, java.nio.ByteBuffer.wrap(w));
            out.addFloats("x.weight_scale_inv", DType.F32, new long[]{e, sr, sc}, s);
            out.finish();
        }
        try (Checkpoint c = Checkpoint.openFile(file)) {
            LogicalTensor t = c.logical(new LogicalTensors.BlockSize(br, bc)).get("x.weight");
            float[] got = t.toFloatArray();
            float[] expected = new float[got.length];
            for (int m = 0; m < e; m++)
                for (int r = 0; r < rows; r++)
                    for (int k = 0; k < cols; k++) {
                        int i = (m * rows + r) * cols + k;
                        expected[i] = Fp8.e4m3ToFloat(w[i]) * s[(m * sr + r / br) * sc + k / bc];
                    }
            assertArrayEquals(expected, got, 0f);
            assertRangesAgree(t, expected, 100);
        }
    }

    @Test
    void blockSizeComesFromConfig() {
        assertEquals(new LogicalTensors.BlockSize(128, 128),
                LogicalTensors.BlockSize.of(ConformanceReadTest.CONFORMANCE.resolve("deepseek_v3_fp8")));
        assertEquals(LogicalTensors.BlockSize.DEFAULT, LogicalTensors.BlockSize.of(QUANTIZED));
    }

    @Test
    void fp8DecodingTableMatchesTheFormat() {
        assertEquals(448f, Fp8.e4m3ToFloat((byte) 0x7e));
        assertEquals(-448f, Fp8.e4m3ToFloat((byte) 0xfe));
        assertTrue(Float.isNaN(Fp8.e4m3ToFloat((byte) 0x7f)));
        assertEquals((float) Math.pow(2, -9), Fp8.e4m3ToFloat((byte) 0x01));
        assertEquals(57344f, Fp8.e5m2ToFloat((byte) 0x7b));
        assertTrue(Float.isInfinite(Fp8.e5m2ToFloat((byte) 0x7c)));
    }

    static void assertRangesAgree(LogicalTensor t, float[] all, int tries) {
        Random rnd = new Random(17);
        for (int k = 0; k < tries; k++) {
            int start = rnd.nextInt(all.length);
            int len = rnd.nextInt(Math.min(all.length - start, 700) + 1);
            float[] dst = new float[len + 1];
            t.readFloats(start, dst, 1, len);
            for (int i = 0; i < len; i++) {
                assertEquals(all[start + i], dst[1 + i], 0f, t.name() + " element " + (start + i));
            }
        }
    }
}
