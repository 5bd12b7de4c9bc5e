package io.moeprune.prune;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Signals during a real {@code moeprune prune} (a child JVM with this test's class path, pruning the embedded
 * moe-tiny-7d): whenever SIGTERM or SIGKILL arrives, the output path holds the complete old output or the complete new
 * one, never a mix, and nothing of the interrupted run survives (SIGTERM) or outlives the next run (SIGKILL).
 */
class PruneSignalTest {
    static final Path MODEL = Path.of("models/moe-tiny-7d");
    /** Kill moments per case (a fresh output, --force over a complete one); -Dmoeprune.signal.moments=N for a campaign. */
    static final int TERM_MOMENTS = Integer.getInteger("moeprune.signal.moments", 6);
    static final int KILL_MOMENTS = Math.max(2, TERM_MOMENTS / 3);

    @TempDir
    static Path tmp;
    static Path maskA, maskB;
    static Map<String, String> refA, refB;
    static long writeMillis;   // from the staging directory's appearance to the end of a run

    @BeforeAll
    static void references() throws Exception {
        ModelSpec spec = ConfigReader.read(MODEL);
        maskA = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 1), Files.createDirectory(tmp.resolve("a")));
        maskB = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 2), Files.createDirectory(tmp.resolve("b")));
        Process ref = prune(maskA, tmp.resolve("ref-a"), false);
        long staged = awaitStaging(ref, tmp.resolve("ref-a"));
        assertEquals(0, ref.waitFor(), "reference prune");
        writeMillis = Math.max(50, (System.nanoTime() - staged) / 1_000_000);
        assertEquals(0, prune(maskB, tmp.resolve("ref-b"), false).waitFor(), "reference prune");
        refA = contents(tmp.resolve("ref-a"));
        refB = contents(tmp.resolve("ref-b"));
        assertNotEquals(refA, refB);
    }

    /** {@code moeprune prune} in a child JVM, with the launcher's flags. */
    static Process prune(Path mask, Path out, boolean force) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), "io.moeprune.cli.Main",
                "prune", MODEL.toString(), "--mask", mask.toString(), "--out", out.toString(), "--json"));
        if (force) cmd.add("--force");
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Waits until {@code p} has made its staging directory for {@code out} (or ended); returns System.nanoTime(). */
    static long awaitStaging(Process p, Path out) throws Exception {
        while (p.isAlive() && leftovers(out).stream().noneMatch(n -> n.contains(".moeprune-staging-"))) Thread.sleep(2);
        return System.nanoTime();
    }

    /**
     * Starts a prune and signals it (SIGTERM, or SIGKILL when {@code hard}) at kill moment {@code i} of {@code n}:
     * moment 0 during start-up, the others spread from the staging directory's appearance to a little past the
     * measured end of a run, with a margin for a loaded machine (writing shards, copying files, the checks, the rename). Records the moment and exit code.
     */
    static void interrupt(Path mask, Path out, boolean force, int i, int n, boolean hard, List<String> outcomes)
            throws Exception {
        Process p = prune(mask, out, force);
        long wait = i == 0 ? 150 : Math.round(writeMillis * 1.6 * (i - 1) / (n - 2));
        if (i > 0) awaitStaging(p, out);
        if (!p.waitFor(wait, TimeUnit.MILLISECONDS)) {
            if (hard) p.destroyForcibly();
            else p.destroy();
        }
        outcomes.add((i == 0 ? "start+" : "staged+") + wait + "ms rc" + p.waitFor());
    }

    /** Which complete output {@code out} holds: "absent", "A" or "B"; fails on anything else. */
    static String state(Path out) throws IOException {
        if (!Files.exists(out)) return "absent";
        Map<String, String> h = contents(out);
        if (h.equals(refA)) return "A";
        if (h.equals(refB)) return "B";
        return fail(out + " holds neither output whole: " + h.keySet());
    }

    /**
     * The hashes of every file of a pruned output but its provenance record, which holds the time it was made; the
     * record itself must be there and be whole JSON, or the output is not complete.
     */
    static Map<String, String> contents(Path out) throws IOException {
        Map<String, String> h = PruneFixtures.hashes(out);
        if (h.remove("moeprune.json") == null) return h;
        new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("moeprune.json").toFile());
        h.put("moeprune.json", "present");
        return h;
    }

    /** Hidden siblings of {@code out} (staging directories, moved-aside old outputs). */
    static List<String> leftovers(Path out) throws IOException {
        return names(out.getParent()).stream().filter(n -> n.startsWith("." + out.getFileName() + ".")).toList();
    }

    static List<String> names(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void sigtermLeavesTheOldOutputOrTheNewOneWhole() throws Exception {
        List<String> outcomes = new ArrayList<>();
        for (int i = 0; i < TERM_MOMENTS; i++) {
            // A fresh output in parent directories the run creates: they go too when it is interrupted.
            Path fresh = tmp.resolve("fresh-" + i + "/x/out");
            interrupt(maskA, fresh, false, i, TERM_MOMENTS, false, outcomes);
            String s = state(fresh);
            outcomes.add(s);
            assertTrue(s.equals("absent") || s.equals("A"), s);
            assertEquals(s.equals("absent") ? List.of() : List.of("out"), names(fresh.getParent()),
                    "staging (and created parents) removed by the signal hook");
            assertEquals(s.equals("absent"), !Files.exists(tmp.resolve("fresh-" + i)), "created parents removed");
        }
        Path forced = tmp.resolve("forced/out");
        assertEquals(0, prune(maskA, forced, false).waitFor());
        String current = "A";
        for (int i = 0; i < TERM_MOMENTS; i++) {
            String next = current.equals("A") ? "B" : "A";
            interrupt(next.equals("A") ? maskA : maskB, forced, true, i, TERM_MOMENTS, false, outcomes);
            String s = state(forced);
            assertTrue(s.equals(current) || s.equals(next), "--force lost the old output: " + s);
            assertEquals(List.of(), leftovers(forced), "the signal hook removed staging and old copies");
            outcomes.add(s.equals(current) ? "old" : "new");
            current = s;
        }
        System.out.println("PruneSignalTest: writing takes " + writeMillis + " ms; SIGTERM fresh x" + TERM_MOMENTS
                + ", --force x" + TERM_MOMENTS + ": " + outcomes);
    }

    @Test
    void afterSigkillTheNextRunRemovesTheLeftovers() throws Exception {
        Path out = tmp.resolve("killed/out");
        assertEquals(0, prune(maskA, out, false).waitFor());
        String current = "A";
        List<String> outcomes = new ArrayList<>();
        for (int i = 0; i < KILL_MOMENTS; i++) {
            String next = current.equals("A") ? "B" : "A";
            interrupt(next.equals("A") ? maskA : maskB, out, true, i + 1, KILL_MOMENTS + 1, true, outcomes);
            String s = state(out);
            // "absent" only in the microseconds between moving the old output aside and moving the new one in,
            // and then the old one is still there under its hidden name for the next run to restore.
            assertTrue(s.equals(current) || s.equals(next) || s.equals("absent") && !leftovers(out).isEmpty(), s);
            outcomes.add(s + " " + leftovers(out).size() + " leftovers");
            Path mask = s.equals("A") ? maskB : maskA;
            assertEquals(0, prune(mask, out, true).waitFor(), "the next run after kill -9");
            current = mask == maskA ? "A" : "B";
            assertEquals(current, state(out));
            assertEquals(List.of(), leftovers(out), "the next run removed the killed run's leftovers");
        }
        System.out.println("PruneSignalTest: SIGKILL --force x" + KILL_MOMENTS + ": " + outcomes);
    }
}
