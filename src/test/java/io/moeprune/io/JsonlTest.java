package io.moeprune.io;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class JsonlTest {
    @TempDir
    Path tmp;

    @Test
    void readsObjectsSkippingBlankLines() throws IOException {
        Path f = Files.writeString(tmp.resolve("ok.jsonl"), "{\"text\": \"héllo\"}\n\n{\"text\": \"b\"}\n");
        var lines = Jsonl.read(f);
        assertEquals(2, lines.size());
        assertEquals("héllo", lines.get(0).requireString("text"));
        assertEquals(3, lines.get(1).number());
    }

    @Test
    void nonUtf8BytesNameFileAndLine() throws IOException {
        byte[] bad = "{\"text\": \"ok\"}\n{\"text\": \"caf\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1);
        Path f = Files.write(tmp.resolve("latin1.jsonl"), bad);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Jsonl.read(f));
        assertEquals(f + ":2: not valid UTF-8", e.getMessage());
    }
}
