package io.moeprune.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** serve's refusals before it starts (the server itself: io.moeprune.serve tests). */
class ServeCommandTest {
    static final Path MODEL = Path.of("src/test/resources/conformance/qwen3_moe");

    @Test
    void badOptionsAreOneLineErrorsWithExitCode2(@TempDir Path dir) throws Exception {
        Path notStore = Files.createDirectories(dir.resolve("empty"));
        SelectCommandTest.Run both = SelectCommandTest.run("serve", MODEL.toString(), "--mask", "m.json", "--patterns", "p");
        SelectCommandTest.Run noStore = SelectCommandTest.run("serve", MODEL.toString(), "--patterns", notStore.toString());
        SelectCommandTest.Run noMask = SelectCommandTest.run("serve", MODEL.toString(), "--mask", dir.resolve("none.json").toString());
        SelectCommandTest.Run noBatch = SelectCommandTest.run("serve", MODEL.toString(), "--max-batch", "0");
        for (SelectCommandTest.Run r : new SelectCommandTest.Run[]{both, noStore, noMask, noBatch}) {
            assertEquals(2, r.code(), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertTrue(both.err().contains("give at most one of --patterns and --mask"), both.err());
        assertTrue(noStore.err().contains(notStore + ": is not a pattern store"), noStore.err());
        assertTrue(noMask.err().contains("none.json"), noMask.err());
        assertTrue(noBatch.err().contains("--max-batch must be at least 1, not 0"), noBatch.err());
    }
}
