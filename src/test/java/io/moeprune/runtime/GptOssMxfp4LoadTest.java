package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A gpt-oss MXFP4 checkpoint whose blocks and scales disagree is refused in one line naming the file and tensor. */
class GptOssMxfp4LoadTest {
    private static final String SCALES = "model.layers.1.mlp.experts.down_proj_scales";

    @Test
    void scalesOfTheWrongShapeAreRefusedWithTheFileAndTensor(@TempDir Path tmp) throws Exception {
        Path src = ConformanceTest.FIXTURES.resolve("gpt_oss_mxfp4"), model = tmp.resolve("broken");
        Files.createDirectories(model);
        for (String f : new String[]{"config.json", "generation_config.json"}) Files.copy(src.resolve(f), model.resolve(f));
        try (Checkpoint in = Checkpoint.open(src); SafetensorsWriter w = SafetensorsWriter.create(model)) {
            for (String n : in.names()) {
                if (!n.equals(SCALES)) {
                    w.copy(in, n);
                    continue;
                }
                long[] shape = in.tensor(n).shape();   // [E, hidden, inter/32], written 2-D and one group short per row
                assertEquals(3, shape.length);
                w.add(n, DType.U8, new long[]{shape[0], shape[1] * shape[2] - shape[1]},
                        ByteBuffer.wrap(new byte[(int) (shape[0] * (shape[1] * shape[2] - shape[1]))]));
            }
            w.finish();
        }
        MoepruneException e = assertThrows(MoepruneException.class, () -> Models.open(model).close());
        assertTrue(e.getMessage().contains(model.toString()) && e.getMessage().contains(SCALES), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }
}
