package io.moeprune.runtime;

import io.moeprune.inspect.CheckpointEdits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 17 item 2: a shard truncated under a running model ends the run with one line naming the shard and a
 * non-zero exit code, not a SIGBUS crash with an hs_err file.
 */
class TruncatedShardTest {
    @TempDir
    Path tmp;

    @Test
    void shardTruncatedBetweenDocumentsIsAOneLineError() throws Exception {
        Path dir = CheckpointEdits.copyWithHeader(LoadRefusesWhatInspectRejectsTest.MIXTRAL, tmp.resolve("m"), h -> { });
        long size = Files.size(dir.resolve("model.safetensors"));
        Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(javaBin.toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                TruncatedShardRun.class.getName(), dir.toString(), "model.safetensors")
                .directory(tmp.toFile())
                .redirectOutput(tmp.resolve("out.txt").toFile())
                .redirectError(tmp.resolve("err.txt").toFile())
                .start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child finished");
        List<String> err = Files.readAllLines(tmp.resolve("err.txt")).stream()
                .filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
        String out = Files.readString(tmp.resolve("out.txt"));
        assertEquals(1, p.exitValue(), out + err);
        assertTrue(out.startsWith("first document: "), out);
        assertEquals(List.of("moeprune: error: " + dir.resolve("model.safetensors") + ": shrank from " + size + " to "
                + size / 2 + " bytes while in use (truncated or rewritten in place); the run stopped"), err);
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList());
        }
    }
}
