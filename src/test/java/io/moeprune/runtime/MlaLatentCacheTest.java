package io.moeprune.runtime;

import io.moeprune.model.AttentionSpec;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DeepSeek MLA caches the compressed latent (kv_lora_rank + rope floats a position, one "head"), and decoding from that
 * cache gives the logits the full-sequence pass gives (the logits against transformers: ConformanceTest).
 */
class MlaLatentCacheTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"src/test/resources/conformance/deepseek_v3", "src/test/resources/conformance/deepseek_v2",
            "../shared/models/moe-tiny-7d-ds3"})
    void cachesTheLatentAndDecodesFromIt(String path) {
        Path dir = Path.of(path);
        Assumptions.assumeTrue(Files.isDirectory(dir), "absent: " + dir);
        try (Model model = Models.open(dir)) {
            AttentionSpec.Mla mla = model.spec().attention().mla();
            AttentionLayer a = model.layers().getFirst().attention();
            assertEquals(1, a.cacheHeads());
            assertEquals(mla.kvLoraRank() + mla.qkRopeHeadDim(), a.cacheKeyWidth());
            assertEquals(mla.kvLoraRank(), a.cacheValueWidth());

            int[] ids = new Random(3).ints(14, 0, model.spec().vocabSize()).toArray();
            int vocab = model.spec().vocabSize(), prefix = 10;
            float[] all = model.forward(ids, model.newState(ids.length), true);
            InferenceState state = model.newState(4);      // small: the latent cache grows on the way
            model.forward(Arrays.copyOf(ids, prefix), state, false);
            for (int t = prefix; t < ids.length; t++) {
                float[] step = model.decode(ids[t], state);
                double err = 0, norm = 0;
                for (int v = 0; v < vocab; v++) {
                    double d = step[v] - all[t * vocab + v];
                    err += d * d;
                    norm += (double) all[t * vocab + v] * all[t * vocab + v];
                }
                assertTrue(Math.sqrt(err / norm) < 1e-4, path + " position " + t + " relative error " + Math.sqrt(err / norm));
            }
        }
    }
}
