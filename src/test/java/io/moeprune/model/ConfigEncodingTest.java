package io.moeprune.model;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** A config.json that is not UTF-8 is named and said so (not the decoder's "Input length = 1"). */
class ConfigEncodingTest {
    @TempDir
    Path tmp;

    @Test
    void nonUtf8ConfigIsOneLineNamingTheFile() throws IOException {
        Files.write(tmp.resolve("config.json"), new byte[]{'{', '"', 'a', '"', ':', '"', (byte) 0xff, '"', '}'});
        MoepruneException e = assertThrows(MoepruneException.class, () -> ConfigReader.read(tmp));
        assertEquals(tmp.resolve("config.json") + ": not UTF-8 text", e.getMessage());
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
    }
}
