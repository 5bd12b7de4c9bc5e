package io.moeprune.patterns;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.CalibrationAccumulator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PatternStoreTest {
    static final StoreInfo INFO = new StoreInfo("/models/m", "sha256:abc", "qwen3_moe", 4, 2, List.of(0, 2),
            SignatureKind.HIDDEN, 2);

    static TaskPattern task(String name, int first) {
        ExpertMask mask = new ExpertMask("sha256:abc", "qwen3_moe", 4, 2, List.of(0, 2),
                new int[][]{{first, 3}, {0, 1}}, "easyep", "per-layer 2", List.of(new ExpertMask.DomainRef(name, 1, 1, 3)));
        return new TaskPattern(name, mask, new Signatures(2, 3, Map.of(SignatureKind.HIDDEN, new double[]{first, 0.5},
                SignatureKind.PREMOE, new double[]{1, 2, 3, first})));
    }

    static ExpertStats stats(String name) {
        CalibrationAccumulator acc = new CalibrationAccumulator(2, 4, 2);
        acc.endDemo("00", 3);
        return acc.result("sha256:abc", name, List.of(0, 2));
    }

    @Test
    void tasksRoundTripAndTheMaskIsAnOrdinaryMaskFile(@TempDir Path dir) {
        Path root = dir.resolve("store");
        PatternStore created = PatternStore.create(root, INFO);
        created.write(task("math", 1), stats("math"), false);
        created.write(task("java", 2), stats("java"), false);
        PatternStore store = PatternStore.open(root);
        assertEquals(INFO, store.info());
        assertEquals(List.of("java", "math"), store.taskNames());
        TaskPattern math = store.read("math");
        assertEquals(task("math", 1).mask(), math.mask());
        assertArrayEquals(new double[]{1, 0.5}, math.signatures().of(SignatureKind.HIDDEN));
        assertEquals(3, math.signatures().tokens());
        assertEquals(task("math", 1).mask(), MaskFiles.read(root.resolve("tasks/math/mask.json")));
        assertTrue(Files.isRegularFile(root.resolve("tasks/math/calibration.stats")));
    }

    @Test
    void aStoredTaskIsReplacedOnlyWithForceAndTheOthersAreNotTouched(@TempDir Path dir) throws Exception {
        PatternStore store = PatternStore.create(dir.resolve("s"), INFO);
        store.write(task("math", 1), stats("math"), false);
        store.write(task("java", 2), stats("java"), false);
        Path javaMask = store.taskDir("java").resolve(PatternStore.MASK);
        byte[] javaBefore = Files.readAllBytes(javaMask);
        var modified = Files.getLastModifiedTime(javaMask);
        MoepruneException e = assertThrows(MoepruneException.class, () -> store.write(task("math", 2), stats("math"), false));
        assertTrue(e.getMessage().startsWith(store.taskDir("math").toAbsolutePath() + ": already exists"), e.getMessage());
        assertEquals(1, store.read("math").mask().kept()[0][0]);
        store.write(task("math", 2), stats("math"), true);
        assertEquals(2, store.read("math").mask().kept()[0][0]);
        assertArrayEquals(javaBefore, Files.readAllBytes(javaMask));
        assertEquals(modified, Files.getLastModifiedTime(javaMask));
        try (var s = Files.list(store.dir().resolve("tasks"))) {
            assertEquals(2, s.count(), "no staging directory is left behind");
        }
    }

    @Test
    void badStoresAndNamesAreOneLineErrorsNamingTheFile(@TempDir Path dir) throws Exception {
        Path notStore = Files.createDirectories(dir.resolve("x"));
        Files.writeString(notStore.resolve("other.txt"), "x");
        assertEquals(notStore + ": is not a pattern store (no store.json)",
                assertThrows(MoepruneException.class, () -> PatternStore.open(notStore)).getMessage());
        assertTrue(assertThrows(MoepruneException.class, () -> PatternStore.create(notStore, INFO)).getMessage()
                .startsWith(notStore + ": exists and is not a pattern store"));
        Path bad = Files.createDirectories(dir.resolve("bad"));
        Files.writeString(bad.resolve("store.json"), "{\"format\": \"moeprune-pattern-store\", \"version\": 9}");
        assertEquals(bad.resolve("store.json") + ": store version 9 is not supported",
                assertThrows(MoepruneException.class, () -> PatternStore.open(bad)).getMessage());
        Files.writeString(bad.resolve("store.json"), "{\"format\": ");
        assertTrue(assertThrows(MoepruneException.class, () -> PatternStore.open(bad)).getMessage()
                .startsWith(bad.resolve("store.json") + ": not valid JSON"));
        for (String name : List.of("", "../x", "a/b", ".hidden")) {
            assertThrows(MoepruneException.class, () -> PatternStore.checkName(name), name);
        }
        PatternStore.checkName("python-3.12_x");
    }
}
