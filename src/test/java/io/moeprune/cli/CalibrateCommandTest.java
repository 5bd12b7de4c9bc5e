package io.moeprune.cli;

import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.calibrate.Statistic;
import io.moeprune.runtime.MemoryBudget;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** calibrate → select → analyze on the shared trained model (skipped when ../shared is absent). */
class CalibrateCommandTest {
    static final Path MODEL = Path.of("../shared/models/moe-tiny-7d");

    // Per test, not in @BeforeAll: an assumption there makes surefire report "Tests run: 0" instead of skipped tests.
    @BeforeEach
    void needsSharedModel() {
        Assumptions.assumeTrue(Files.isDirectory(MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
    }

    @Test
    void calibratesEveryDemonstrationFormat(@TempDir Path dir) throws Exception {
        Path demos = dir.resolve("mixed.jsonl");
        Files.writeString(demos, """
                {"text": "public static void main(String[] args) { System.out.println(args.length); }"}

                {"messages": [{"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "5"}]}
                {"prompt": "Question: 7*6?\\nAnswer:", "response": " 42"}
                {"text": "never read: --max-demos 3"}
                """);
        Path stats = dir.resolve("mixed.stats");
        SelectCommandTest.Run r = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", demos.toString(),
                "--max-demos", "3", "--out", stats.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        ExpertStats s = StatsFile.read(stats);
        assertEquals("mixed", s.domain());
        assertEquals(3, s.numDemos());
        assertEquals(8, s.numMoeLayers());
        assertEquals(32, s.numExperts());
        // every token is routed to top-4 experts in every layer
        double routed = Arrays.stream(s.aggregate(Statistic.TOKENS_ROUTED)[0]).sum();
        assertEquals(4.0 * s.totalTokens(), routed, 1e-9);
        // g sums to 1 per token (renormalised top-k)
        assertEquals(s.totalTokens(), Arrays.stream(s.aggregate(Statistic.SUM_G)[7]).sum(), 1e-3);
        assertTrue(s.fingerprint().startsWith("sha256:"));

        Path mask = dir.resolve("m.json");
        assertEquals(0, SelectCommandTest.run("select", stats.toString(), "--keep-ratio", "0.5", "--out", mask.toString()).code());
        Path plots = dir.resolve("plots");
        assertEquals(0, SelectCommandTest.run("analyze", stats.toString(), stats.toString(), "--out", plots.toString()).code());
        assertTrue(Files.readString(plots.resolve("overlap-domains.svg")).contains("<svg"));
    }

    @Test
    void aTinyMemoryBudgetStreamsAndSpillsWithTheSameStatistics(@TempDir Path dir) throws Exception {
        String demos = "../shared/data/domains/math.dev.jsonl";
        Path plain = dir.resolve("plain/math.stats"), tiny = dir.resolve("tiny/math.stats");
        Files.createDirectories(plain.getParent());
        Files.createDirectories(tiny.getParent());
        try {
            assertEquals(0, SelectCommandTest.run("calibrate", MODEL.toString(), "--data", demos, "--max-demos", "3",
                    "--out", plain.toString(), "--quiet").code());
            // 10 kB: the weights are streamed layer by layer and the residual streams spill beside the output.
            var r = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", demos, "--max-demos", "3",
                    "--out", tiny.toString(), "--quiet", "--memory-budget", "10kB");
            assertEquals(0, r.code(), r.err());
        } finally {
            MemoryBudget.reset();
        }
        ExpertStats a = StatsFile.read(plain), b = StatsFile.read(tiny);
        for (Statistic s : Statistic.values()) assertTrue(Arrays.deepEquals(a.values().get(s), b.values().get(s)), s.name());
        try (var files = Files.list(tiny.getParent())) {
            assertEquals(1, files.count(), "the spill file is gone");
        }
        var bad = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", demos, "--out", tiny.toString(),
                "--memory-budget", "lots");
        assertEquals(2, bad.code());
        assertEquals("moeprune: error: size 'lots' is not a size such as 5GB, 500MB or 2GiB", bad.err().strip());
    }

    @Test
    void badDemonstrationFilesAreOneLineErrors(@TempDir Path dir) throws Exception {
        Path empty = dir.resolve("empty.jsonl");
        Files.writeString(empty, "\n\n");
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
        Path wrongKeys = dir.resolve("keys.jsonl");
        Files.writeString(wrongKeys, "{\"body\": \"x\"}\n");
        String out = dir.resolve("x.stats").toString();
        var e1 = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", empty.toString(), "--out", out);
        assertTrue(e1.err().contains(empty + ": holds no documents"), e1.err());
        var e2 = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", bad.toString(), "--out", out);
        assertTrue(e2.err().contains(bad + ":2: not valid JSON"), e2.err());
        var e3 = SelectCommandTest.run("calibrate", MODEL.toString(), "--data", wrongKeys.toString(), "--out", out);
        assertTrue(e3.err().contains(wrongKeys + ":1: needs \"text\""), e3.err());
        for (var r : new SelectCommandTest.Run[]{e1, e2, e3}) {
            assertEquals(2, r.code());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertFalse(Files.exists(Path.of(out)));
    }
}
