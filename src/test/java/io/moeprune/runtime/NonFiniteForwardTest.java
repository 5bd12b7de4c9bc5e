package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.inspect.CheckpointEdits;
import io.moeprune.model.ConfigReader;
import io.moeprune.safetensors.SafetensorsFile;
import io.moeprune.safetensors.TensorInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 17 item 8: a forward pass that turns NaN is an error naming the layer where it appeared. */
class NonFiniteForwardTest {
    @TempDir
    Path tmp;

    /** A copy of the Mixtral fixture with the first element of one tensor overwritten by a NaN. */
    Path withNaN(String tensor) throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(LoadRefusesWhatInspectRejectsTest.MIXTRAL, tmp.resolve("nan"), h -> { });
        Path file = dir.resolve("model.safetensors");
        long at;
        String dtype;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            TensorInfo info = f.tensors().get(tensor);
            at = f.dataStart() + info.begin();
            dtype = info.dtype().toString();
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(at);
            if (dtype.equals("F32")) raf.write(new byte[]{0, 0, (byte) 0xc0, 0x7f});
            else raf.write(new byte[]{(byte) 0xc0, 0x7f});   // BF16 and F16 NaN, little-endian
        }
        return dir;
    }

    @Test
    void nanInALayerNamesTheLayer() throws IOException {
        Path dir = withNaN("model.layers.1.post_attention_layernorm.weight");
        try (Model m = Model.load(dir, ConfigReader.read(dir))) {
            MoepruneException e = assertThrows(MoepruneException.class,
                    () -> new Perplexity(m, null).score(new int[]{1, 2, 3, 4}));
            assertEquals(dir + ": NaN appeared in layer 1 (of 3) at token position 0: corrupt weights or config.json values",
                    e.getMessage());
        }
    }

    @Test
    void nanInTheEmbeddingTableNamesIt() throws IOException {
        Path dir = withNaN("model.embed_tokens.weight");
        try (Model m = Model.load(dir, ConfigReader.read(dir))) {
            assertEquals(4, new Perplexity(m, null).score(new int[]{1, 2, 3, 4}).tokens(), "row 0 is not used");
            MoepruneException e = assertThrows(MoepruneException.class, () -> new Perplexity(m, null).score(new int[]{5, 0}));
            assertTrue(e.getMessage().endsWith("NaN appeared in the embeddings at token position 1: corrupt weights or "
                    + "config.json values"), e.getMessage());
        }
    }

    @Test
    void finiteCheckFindsTheFirstBadValue() {
        float[] x = new float[37];
        assertEquals(-1, FiniteCheck.nonFinite(x, x.length));
        x[33] = Float.POSITIVE_INFINITY;
        x[35] = Float.NaN;
        assertEquals(33, FiniteCheck.nonFinite(x, x.length));
        assertEquals(-1, FiniteCheck.nonFinite(x, 33));
    }
}
