package io.moeprune.bench;

import io.moeprune.kernels.Weights;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.Fp8;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DeepSeek-V3 benchmark checkpoint: the runtime reads it as FP8 DeepSeek-V3 and runs it. */
class RandomDeepSeekV3Test {
    private static final RandomDeepSeekV3.Shape TINY = RandomDeepSeekV3.Shape.FULL.with("hidden=256,moeLayers=2,"
            + "heads=4,qLora=64,kvLora=64,rope=32,nope=32,v=32,experts=16,groups=4,topkGroup=2,topK=4,moeInter=128,"
            + "denseInter=256,vocab=512");

    @Test
    void writesAnFp8DeepSeekV3ThatTheRuntimeRuns(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("ds3");
        long bytes = RandomDeepSeekV3.write(dir, TINY, 42);
        try (Model model = Models.open(dir)) {
            assertEquals("deepseek_v3", model.spec().family().modelType());
            assertEquals(3, model.layers().size());
            assertEquals(java.util.List.of(1, 2), model.spec().moeLayers());
            assertEquals(16, model.spec().moe().numExperts());
            assertTrue(model.checkpointBytes() >= bytes);
            int[] ids = new Random(1).ints(24, 0, 512).toArray();
            float[] logits = model.forward(ids, model.newState(), false);
            for (float v : logits) assertTrue(Float.isFinite(v));
        }
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model-00002-of-00004.safetensors"))) {
            Tensor up = f.tensor("model.layers.1.mlp.experts.3.up_proj.weight");
            assertEquals(DType.F8_E4M3, up.dtype());
            assertArrayEquals(new long[]{128, 256}, up.shape());
            Tensor scales = f.tensor("model.layers.1.mlp.experts.3.up_proj.weight_scale_inv");
            assertArrayEquals(new long[]{1, 2}, scales.shape());
            Weights w = Weights.blockScaled(up, scales);
            assertEquals(0.01f, w.scaleAt(127, 255));
            for (int i = 0; i < 4096; i++) {
                float v = Math.abs(Fp8.e4m3ToFloat(up.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, i)));
                assertTrue(v >= 0.5f && v <= 7.5f, "FP8 value " + v);
            }
            assertEquals(DType.F32, f.tensor("model.layers.1.mlp.gate.e_score_correction_bias").dtype());
            assertEquals(DType.F8_E4M3, f.tensor("model.layers.1.mlp.shared_experts.down_proj.weight").dtype());
        }
    }

    @Test
    void shapeOverridesNameTheirField() {
        assertEquals(1024, RandomDeepSeekV3.Shape.FULL.with("hidden=1024").hidden());
        assertEquals(7168, RandomDeepSeekV3.Shape.FULL.with("").hidden());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> RandomDeepSeekV3.Shape.FULL.with("width=3"));
        assertTrue(bad.getMessage().contains("width=3"), bad.getMessage());
    }
}
