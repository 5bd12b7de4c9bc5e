package io.moeprune.io;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The all-or-nothing output of every command: commit, abandon, --force, the signal hook, leftovers of killed runs. */
class StagedOutputTest {
    @TempDir
    Path tmp;

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** The PID of a process that has ended (and was reaped), for leftovers of a "killed" run. */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void directoryAppearsOnlyOnCommitWithOrdinaryPermissions() throws IOException {
        Path out = tmp.resolve("out");
        try (StagedOutput o = StagedOutput.directory(out, false)) {
            Files.writeString(o.staging().resolve("a.txt"), "new");
            assertFalse(Files.exists(out));
            assertTrue(o.staging().getFileName().toString()
                    .startsWith(".out.moeprune-staging-" + ProcessHandle.current().pid() + "-p0-"), o.staging().toString());
            o.commit();
        }
        assertEquals("new", Files.readString(out.resolve("a.txt")));
        assertEquals(List.of("out"), listing(tmp));
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    }

    @Test
    void closeWithoutCommitRemovesStagingAndTheParentsItCreated() throws IOException {
        Path out = tmp.resolve("a/b/out");
        try (StagedOutput o = StagedOutput.directory(out, false)) {
            Files.writeString(o.staging().resolve("a.txt"), "x");
            assertTrue(o.staging().getFileName().toString().contains("-p2-"), "records the 2 parents it made");
        }
        assertEquals(List.of(), listing(tmp));
    }

    @Test
    void existingOutputNeedsForceAndIsReplacedWhole() throws IOException {
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        Files.writeString(out.resolve("old.txt"), "old");
        MoepruneException e = assertThrows(MoepruneException.class, () -> StagedOutput.directory(out, false));
        assertEquals(out + ": already exists; use --force to replace it", e.getMessage());
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        try (StagedOutput o = StagedOutput.directory(out, true)) {
            Files.writeString(o.staging().resolve("new.txt"), "new");
            assertTrue(Files.exists(out.resolve("old.txt")), "old output untouched until the commit");
            o.commit();
        }
        assertEquals(List.of("new.txt"), listing(out));
        assertEquals(List.of("out"), listing(tmp), "old output moved aside and deleted");
    }

    @Test
    void anEmptyDirectoryIsReplacedWithoutForce() throws IOException {
        Path out = Files.createDirectory(tmp.resolve("out"));
        try (StagedOutput o = StagedOutput.directory(out, false)) {
            Files.writeString(o.staging().resolve("x"), "1");
            o.commit();
        }
        assertEquals(List.of("x"), listing(out));
    }

    @Test
    void somethingElseInThePlaceIsRefused() throws IOException {
        Path file = Files.writeString(tmp.resolve("f"), "keep");
        MoepruneException e = assertThrows(MoepruneException.class, () -> StagedOutput.directory(file, true));
        assertEquals(file + ": exists and is not a directory; refusing to replace it", e.getMessage());
        Path dir = Files.createDirectory(tmp.resolve("d"));
        e = assertThrows(MoepruneException.class, () -> StagedOutput.file(dir, true));
        assertEquals(dir + ": exists and is not a regular file; refusing to replace it", e.getMessage());
        assertEquals("keep", Files.readString(file));
        assertEquals(List.of("d", "f"), listing(tmp));
    }

    @Test
    void aFileIsReplacedAtomicallyWithMode644() throws IOException {
        Path f = tmp.resolve("sub/mask.json");
        StagedOutput.writeString(f, "one");
        StagedOutput.writeString(f, "two");
        assertEquals("two", Files.readString(f));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        assertEquals(List.of("mask.json"), listing(tmp.resolve("sub")));
        MoepruneException e = assertThrows(MoepruneException.class, () -> StagedOutput.file(f, false));
        assertEquals(f + ": already exists; use --force to replace it", e.getMessage());
    }

    /** The hook's side of the exclusion: once it has abandoned the output, commit() must not rename anything. */
    @Test
    void afterTheSignalHookCleanedCommitRefusesToRename() throws IOException {
        Path out = Files.createDirectory(tmp.resolve("out"));
        Files.writeString(out.resolve("old.txt"), "old");
        StagedOutput o = StagedOutput.directory(out, true);
        Files.writeString(o.staging().resolve("new.txt"), "new");
        o.abandonAsOnSignal();
        MoepruneException e = assertThrows(MoepruneException.class, o::commit);
        assertEquals(out + ": interrupted; not written", e.getMessage());
        o.close();
        assertEquals(List.of("old.txt"), listing(out));
        assertEquals(List.of("out"), listing(tmp));
    }

    /** The commit's side: once committed, the hook leaves the result alone. */
    @Test
    void afterTheCommitTheSignalHookLeavesTheOutputAlone() throws IOException {
        Path out = tmp.resolve("out");
        StagedOutput o = StagedOutput.directory(out, false);
        Files.writeString(o.staging().resolve("new.txt"), "new");
        o.commit();
        o.abandonAsOnSignal();
        assertEquals(List.of("new.txt"), listing(out));
    }

    @Test
    void aDeadRunsStagingIsRemovedAndALiveRunsIsLeftAlone() throws Exception {
        Path out = tmp.resolve("out");
        long dead = deadPid();
        Path deadStaging = Files.createDirectory(tmp.resolve(".out.moeprune-staging-" + dead + "-p0-0123abcd"));
        Files.writeString(deadStaging.resolve("config.json"), "{}");
        Path live = Files.createDirectory(tmp.resolve(".out.moeprune-staging-" + ProcessHandle.current().pid() + "-p0-89abcdef"));
        Path unrelated = Files.createDirectory(tmp.resolve(".other.moeprune-staging-" + dead + "-p0-0123abcd"));
        try (StagedOutput o = StagedOutput.directory(out, false)) {
            assertEquals(java.util.Set.of("removed " + deadStaging + ", left by interrupted process " + dead,
                    live + " belongs to running process " + ProcessHandle.current().pid() + " (a concurrent run?); left alone"),
                    java.util.Set.copyOf(o.notes()));
            o.commit();
        }
        assertFalse(Files.exists(deadStaging));
        assertTrue(Files.exists(live));
        assertTrue(Files.exists(unrelated), "another output's leftovers are that output's business");
    }

    /** Killed between moving the old output aside and moving the new one in: the next run puts the old one back. */
    @Test
    void aDeadRunsMovedAsideOutputIsRestoredWhenTheOutputIsMissing() throws Exception {
        Path out = tmp.resolve("out");
        long dead = deadPid();
        Path old = Files.createDirectory(tmp.resolve(".out.moeprune-old-" + dead + "-p0-0123abcd"));
        Files.writeString(old.resolve("old.txt"), "old");
        Path staging = Files.createDirectory(tmp.resolve(".out.moeprune-staging-" + dead + "-p0-4567abcd"));
        MoepruneException e = assertThrows(MoepruneException.class, () -> StagedOutput.directory(out, false));
        assertEquals(out + ": already exists; use --force to replace it", e.getMessage());
        assertEquals(List.of("old.txt"), listing(out));
        assertFalse(Files.exists(staging));
        assertEquals(List.of("out"), listing(tmp));
    }

    /** Parent directories a killed run created for this output go too if this run does not complete either. */
    @Test
    void parentsAKilledRunCreatedAreRemovedWhenTheNextRunFails() throws Exception {
        Path out = tmp.resolve("a/b/out");
        Files.createDirectories(out.getParent());
        Files.createDirectory(out.resolveSibling(".out.moeprune-staging-" + deadPid() + "-p2-0123abcd"));
        try (StagedOutput o = StagedOutput.directory(out, false)) {
            assertTrue(o.staging().getFileName().toString().contains("-p2-"), o.staging().toString());
        }
        assertEquals(List.of(), listing(tmp));
    }

    @Test
    void ioErrorsAreTheReasonWithoutClassOrTemporaryFile() {
        assertEquals("No space left on device", IoErrors.reason(new java.nio.file.FileSystemException(
                "/x/.out.moeprune-staging-1-p0-00000000/model.partial", null, "No space left on device")));
        assertEquals("permission denied", IoErrors.reason(new java.nio.file.AccessDeniedException("/x")));
        assertEquals("IOException", IoErrors.reason(new IOException()));
        assertEquals("first", IoErrors.reason(new IOException("first\nsecond")));
    }
}
