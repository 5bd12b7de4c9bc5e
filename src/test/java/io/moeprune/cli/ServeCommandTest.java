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
        SelectCommandTest.Run memoryAlone = SelectCommandTest.run("serve", MODEL.toString(), "--expert-memory", "1GB");
        Path mask = Files.writeString(dir.resolve("mask.json"), "{\"layers\": {\"0\": [0, 1]}}");
        SelectCommandTest.Run badSize = SelectCommandTest.run("serve", MODEL.toString(), "--mask", mask.toString(),
                "--expert-memory", "lots");
        SelectCommandTest.Run tooSmall = SelectCommandTest.run("serve", MODEL.toString(), "--mask", mask.toString(),
                "--expert-memory", "1KB");
        for (SelectCommandTest.Run r : new SelectCommandTest.Run[]{both, noStore, noMask, noBatch, memoryAlone, badSize, tooSmall}) {
            assertEquals(2, r.code(), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertTrue(both.err().contains("give at most one of --patterns and --mask"), both.err());
        assertTrue(noStore.err().contains(notStore + ": is not a pattern store"), noStore.err());
        assertTrue(noMask.err().contains("none.json"), noMask.err());
        assertTrue(noBatch.err().contains("--max-batch must be at least 1, not 0"), noBatch.err());
        assertTrue(memoryAlone.err().contains("--expert-memory needs --patterns or --mask"), memoryAlone.err());
        assertTrue(badSize.err().contains("size 'lots' is not a size"), badSize.err());
        // The mask keeps 2 experts of [64 -> 32] a layer (and every expert of the layers it leaves out): over a kilobyte.
        assertTrue(tooSmall.err().contains("--expert-memory 0.0 MB is smaller than the experts of the mask"), tooSmall.err());
    }
}
