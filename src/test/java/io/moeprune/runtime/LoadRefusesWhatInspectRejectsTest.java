package io.moeprune.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.inspect.CheckpointEdits;
import io.moeprune.model.ConfigReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Issue 17 item 3: the runtime refuses, in inspect's words and one line, what inspect's tensor check rejects. */
class LoadRefusesWhatInspectRejectsTest {
    static final Path MIXTRAL = Path.of("src/test/resources/conformance/mixtral");
    static final String W1 = "model.layers.0.block_sparse_moe.experts.3.w1.weight";

    @TempDir
    Path tmp;

    static String refusal(Path dir) {
        MoepruneException e = assertThrows(MoepruneException.class, () -> Model.load(dir, ConfigReader.read(dir)).close());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        return e.getMessage();
    }

    @Test
    void transposedExpertWeight() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(MIXTRAL, tmp.resolve("t"), h -> CheckpointEdits.reshape(h, W1, 64, 32));
        assertEquals(dir + ": tensor check failed (0 missing, 1 wrong shape; 'moeprune inspect' lists them): "
                + W1 + " is [64, 32], expected [32, 64]", refusal(dir));
    }

    @Test
    void configWithoutKeyValueHeads() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(MIXTRAL, tmp.resolve("kv"), h -> { });
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
        config.remove("num_key_value_heads");   // defaults to the 4 query heads; the checkpoint has 2
        Files.writeString(dir.resolve("config.json"), config.toString());
        assertEquals(dir + ": tensor check failed (0 missing, 6 wrong shape; 'moeprune inspect' lists them): "
                + "model.layers.0.self_attn.k_proj.weight is [32, 64], expected [64, 64]; "
                + "model.layers.0.self_attn.v_proj.weight is [32, 64], expected [64, 64]; and 4 more", refusal(dir));
    }

    @Test
    void missingExpertIsNamed() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(MIXTRAL, tmp.resolve("m"),
                h -> CheckpointEdits.rename(h, W1, "unrelated.weight"));
        assertEquals(dir + ": tensor check failed (1 missing, 0 wrong shape; 'moeprune inspect' lists them): missing "
                + W1, refusal(dir));
    }

    @Test
    void unmodifiedCopyLoads() throws IOException {
        Path dir = CheckpointEdits.copyWithHeader(MIXTRAL, tmp.resolve("ok"), h -> { });
        try (Model m = Model.load(dir, ConfigReader.read(dir))) {
            assertEquals(3, m.layers().size());
        }
    }
}
