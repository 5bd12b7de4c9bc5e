package io.moeprune.select;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Mask files: numbers beyond int are reported as written, and a mask is an ordinary 0644 file. */
class MaskFilesTest {
    @TempDir
    Path tmp;

    private String refused(String numExperts, String moeLayers, String layer0) throws IOException {
        Path f = tmp.resolve("m.json");
        Files.writeString(f, """
                {"format": "moeprune-expert-mask", "version": 1,
                 "model": {"fingerprint": "", "family": "qwen3_moe", "num_experts": %s, "top_k": 2, "moe_layers": %s},
                 "method": "test", "budget": "", "domains": [], "layers": {"0": %s}}
                """.formatted(numExperts, moeLayers, layer0));
        MoepruneException e = assertThrows(MoepruneException.class, () -> MaskFiles.read(f));
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        return e.getMessage().substring(f.toString().length() + 2);
    }

    @Test
    void hugeNumbersAreReportedAsWritten() throws IOException {
        assertEquals("layer 0: expert id 1000000000000 is out of range 0..7", refused("8", "[0]", "[1, 1000000000000]"));
        assertEquals("layer 0: expert id -3 is out of range 0..7", refused("8", "[0]", "[1, -3]"));
        assertEquals("model.num_experts is 4294967304, not a positive count", refused("4294967304", "[0]", "[1, 2]"));
        assertEquals("model.moe_layers holds 4294967296, not a layer number", refused("8", "[4294967296]", "[1, 2]"));
    }

    @Test
    void writtenMasksAreMode644AndReplacedWhole() {
        ExpertMask mask = new ExpertMask("", "qwen3_moe", 8, 2, List.of(0), new int[][]{{1, 5}}, "test", "", List.of());
        Path f = tmp.resolve("out/mask.json");
        MaskFiles.write(mask, f);
        MaskFiles.write(mask, f);
        assertArrayEquals(new int[]{1, 5}, MaskFiles.read(f).kept()[0]);
        assertDoesNotThrow(() -> assertEquals("rw-r--r--",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(f))));
        assertDoesNotThrow(() -> assertEquals(List.of(f), Files.list(f.getParent()).toList()), "no staging left");
    }
}
