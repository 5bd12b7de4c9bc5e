package io.moeprune.runtime;

import io.moeprune.inspect.CheckpointEdits;
import io.moeprune.io.FileLease;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 17 item 2: a shard truncated under a running model ends the run with one line naming the shard and a
 * non-zero exit code, not a SIGBUS crash with an hs_err file. With leases (the normal case on a local file system
 * the user owns) the truncation is held by the kernel until the run has stopped; without them (the fallback), the
 * size checks between layers catch a truncation between documents.
 *
 * <p>{@code -Dmoeprune.truncationRuns=30} repeats each leased case as a campaign (by default 3 runs on the small
 * fixture and 1 on a copy of the shared moe-tiny-7d, whose layers take milliseconds: the truncation lands mid-layer).
 */
class TruncatedShardTest {
    private static final Path SHARED_MODEL = Path.of("..", "shared", "models", "moe-tiny-7d");

    @TempDir
    Path tmp;

    @Test
    void withoutLeasesAShardTruncatedBetweenDocumentsIsAOneLineError() throws Exception {
        Path dir = CheckpointEdits.copyWithHeader(LoadRefusesWhatInspectRejectsTest.MIXTRAL, tmp.resolve("m"), h -> { });
        long size = Files.size(dir.resolve("model.safetensors"));
        Child child = Child.start(tmp, dir, "model.safetensors", "self", "-D" + FileLease.ENABLED_PROPERTY + "=false");
        assertTrue(child.process.waitFor(60, TimeUnit.SECONDS), "child finished");
        List<String> err = child.err();
        String out = child.out();
        assertEquals(1, child.process.exitValue(), out + err);
        assertTrue(out.startsWith("leases: 0\nfirst document: "), out);
        assertEquals(List.of("moeprune: error: " + dir.resolve("model.safetensors") + ": shrank from " + size + " to "
                + size / 2 + " bytes while in use (truncated or rewritten in place); the run stopped"), err);
        assertNoCrashFile();
    }

    @Test
    void aShardTruncatedMidRunIsHeldByTheLeaseUntilTheRunStopped() throws Exception {
        Path dir = CheckpointEdits.copyWithHeader(LoadRefusesWhatInspectRejectsTest.MIXTRAL, tmp.resolve("m"), h -> { });
        truncateMidRun(dir, "model.safetensors", Integer.getInteger("moeprune.truncationRuns", 3));
    }

    @Test
    void aShardOfTheTrainedModelTruncatedMidLayerIsHeldByTheLease() throws Exception {
        if (!Files.isDirectory(SHARED_MODEL)) {
            System.out.println("skipped: " + SHARED_MODEL + " is absent (the shared test bed)");
            return;
        }
        Path dir = tmp.resolve("7d");
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(SHARED_MODEL)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        truncateMidRun(dir, "model-00003-of-00005.safetensors", Integer.getInteger("moeprune.truncationRuns", 1));
    }

    /**
     * {@code runs} times: a child scores documents in a loop; at a random moment the test truncates SHARD (as
     * truncate(2) from another process); the child must stop with the one-line lease error (exit 1, no crash file)
     * while the truncation waits, and the truncation must finish once the child has gone, well before the kernel's
     * 45 s lease-break timeout.
     */
    private void truncateMidRun(Path original, String shardName, int runs) throws Exception {
        List<String> timings = new ArrayList<>();
        for (int run = 0; run < runs; run++) {
            Path dir = tmp.resolve("run" + run);
            Files.createDirectories(dir);
            try (Stream<Path> files = Files.list(original)) {
                for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
            }
            Path shard = dir.resolve(shardName);
            long size = Files.size(shard);
            Child child = Child.start(tmp, dir, shardName, "loop");
            child.awaitLine("running", 60);
            if (child.out().startsWith("leases: 0")) {
                child.process.destroy();
                child.process.waitFor(10, TimeUnit.SECONDS);
                Assumptions.abort("no file leases here (" + tmp + "): the fallback is tested alone");
            }
            Thread.sleep(ThreadLocalRandom.current().nextInt(200));
            long t0 = System.nanoTime();
            CompletableFuture<Long> truncated = CompletableFuture.supplyAsync(() -> truncate(shard, t0));
            assertTrue(child.process.waitFor(60, TimeUnit.SECONDS), "child stopped");
            long exited = System.nanoTime();
            long heldMs = truncated.get(30, TimeUnit.SECONDS);
            String out = child.out();
            List<String> err = child.err();
            assertEquals(1, child.process.exitValue(), out + err);
            assertEquals(List.of("moeprune: error: " + shard + ": another process is truncating or writing it while in"
                    + " use; the run stopped to let it go ahead"), err, out);
            assertTrue(!out.contains("second document") && !out.contains("#"), out);   // no fatal-error banner
            assertEquals(size / 2, Files.size(shard), "the truncation went ahead");
            assertTrue(heldMs < 20_000, "held " + heldMs + " ms: released by the child, not by the kernel's timeout");
            assertTrue(heldMs <= (exited - t0) / 1_000_000 + 1000, "held until the child stopped: " + heldMs + " ms");
            assertNoCrashFile();
            timings.add(heldMs + " ms");
        }
        System.out.println("truncations held until the run stopped: " + timings);
    }

    /** Truncates to half as another process would (blocks while a lease is being broken); the ms it took. */
    private static long truncate(Path shard, long t0) {
        try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
            return (System.nanoTime() - t0) / 1_000_000;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private void assertNoCrashFile() throws IOException {
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList());
        }
    }

    /** A {@link TruncatedShardRun} in its own JVM, working in the test's folder (where an hs_err file would land). */
    private record Child(Process process, Path outFile, Path errFile) {
        static Child start(Path tmp, Path dir, String shard, String mode, String... jvmOptions) throws IOException {
            Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
            List<String> command = new ArrayList<>(List.of(javaBin.toString(), "--add-modules", "jdk.incubator.vector",
                    "--enable-native-access=ALL-UNNAMED"));
            command.addAll(List.of(jvmOptions));
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), TruncatedShardRun.class.getName(),
                    dir.toString(), shard, mode));
            Path out = Files.createTempFile(tmp, "out", ".txt"), err = Files.createTempFile(tmp, "err", ".txt");
            Process p = new ProcessBuilder(command).directory(tmp.toFile())
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            return new Child(p, out, err);
        }

        String out() throws IOException {
            return Files.readString(outFile);
        }

        List<String> err() throws IOException {
            return Files.readAllLines(errFile).stream()
                    .filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
        }

        void awaitLine(String line, int seconds) throws Exception {
            long end = System.nanoTime() + seconds * 1_000_000_000L;
            while (!out().lines().toList().contains(line)) {
                assertTrue(process.isAlive() && System.nanoTime() < end, "child printed '" + line + "': " + out() + err());
                Thread.sleep(20);
            }
        }
    }
}
