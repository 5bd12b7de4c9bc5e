package io.moeprune.bench;

import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The embedding scale of the benchmark checkpoints: exact, and nothing else changes. */
class RandomMoeModelTest {
    private static final RandomMoeModel.Shape TINY = new RandomMoeModel.Shape(64, 2, 2, 1, 32, 8, 2, 32, 128);

    @Test
    void scaledEmbeddingIsThePlainOneTimesTheScaleAndTheLayersAreTheSameBytes(@TempDir Path tmp) throws Exception {
        Path plain = tmp.resolve("plain"), scaled = tmp.resolve("scaled");
        RandomMoeModel.write(plain, TINY, 42);
        RandomMoeModel.write(scaled, TINY, 42, 256);
        String layers = "model-00001-of-00002.safetensors", rest = "model-00002-of-00002.safetensors";
        assertEquals(-1, Files.mismatch(plain.resolve(layers), scaled.resolve(layers)));
        try (SafetensorsFile a = SafetensorsFile.open(plain.resolve(rest));
             SafetensorsFile b = SafetensorsFile.open(scaled.resolve(rest))) {
            float[] e1 = a.tensor("model.embed_tokens.weight").toFloatArray();
            float[] e256 = b.tensor("model.embed_tokens.weight").toFloatArray();
            assertEquals(128 * 64, e1.length);
            for (int i = 0; i < e1.length; i++) assertEquals(256 * e1[i], e256[i], 0f, "element " + i);
            Tensor h1 = a.tensor("lm_head.weight"), h256 = b.tensor("lm_head.weight");
            assertEquals(h1.getFloat(7), h256.getFloat(7), 0f);
            assertEquals(0.02, maxAbs(e1), 0.001);
        }
    }

    @Test
    void jumpingAheadIsSteppingOneByOne() {
        long x = 42 * 0x9E3779B97F4A7C15L + 1;
        for (int n = 0; n <= 1000; n++) {
            assertEquals(x, Xorshift.jump(42 * 0x9E3779B97F4A7C15L + 1, n), "step " + n);
            x = Xorshift.next(x);
        }
    }

    @Test
    void shardsWrittenInParallelHoldOneSequentialStream(@TempDir Path tmp) throws Exception {
        // 9 layers: three layer shards and the embeddings' shard; the random values of all of them, in file order,
        // are one generator's draws (the norms are ones and draw nothing).
        RandomMoeModel.Shape shape = new RandomMoeModel.Shape(64, 9, 2, 1, 32, 4, 2, 32, 128);
        RandomMoeModel.write(tmp, shape, 5);
        long state = 5 * 0x9E3779B97F4A7C15L + 1;
        int checked = 0;
        for (int shard = 1; shard <= 4; shard++) {
            Path file = tmp.resolve(String.format("model-%05d-of-00004.safetensors", shard));
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                for (String name : f.tensors().values().stream()
                        .sorted(java.util.Comparator.comparingLong(io.moeprune.safetensors.TensorInfo::begin))
                        .map(io.moeprune.safetensors.TensorInfo::name).toList()) {
                    if (name.endsWith("norm.weight")) continue;
                    Tensor t = f.tensor(name);
                    for (long i = 0; i < t.elementCount(); i++) {
                        state = Xorshift.next(state);
                        float want = Float.intBitsToFloat((Float.floatToIntBits(
                                ((state >>> 40) / (float) (1L << 24) - 0.5f) * 0.04f) >>> 16) << 16);
                        assertEquals(want, t.getFloat(i), 0f, name + "[" + i + "]");
                        checked++;
                    }
                }
            }
        }
        assertEquals(shape.parameters() - 9L * (2 * 64 + 2 * 32) - 64, checked);
    }

    @Test
    void aScaleThatIsNotAPowerOfTwoIsRefused(@TempDir Path tmp) {
        assertThrows(IllegalArgumentException.class, () -> RandomMoeModel.write(tmp.resolve("m"), TINY, 42, 100));
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) m = Math.max(m, Math.abs(x));
        return m;
    }
}
