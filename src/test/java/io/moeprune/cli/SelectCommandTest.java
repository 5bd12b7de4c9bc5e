package io.moeprune.cli;

import io.moeprune.calibrate.CalibrationAccumulator;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class SelectCommandTest {

    /** Statistics of a 2-MoE-layer, 8-expert, top-2 model whose demonstrations use the given experts. */
    static Path stats(Path dir, String domain, String fingerprint, int... experts) {
        CalibrationAccumulator acc = new CalibrationAccumulator(2, 8, 2);
        for (int l = 0; l < 2; l++) {
            for (int e : experts) {
                acc.token(l, new float[]{1, 0}, new float[]{0, 1}, new int[]{e}, new float[]{1f}, new float[]{1f},
                        new float[8]);
            }
        }
        acc.endDemo("x", experts.length);
        Path p = dir.resolve(domain + ".stats");
        StatsFile.write(acc.result(fingerprint, domain, List.of(0, 1)), "qwen3_moe", p);
        return p;
    }

    record Run(int code, String err) {
    }

    static Run run(String... args) {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        int code = cl.execute(args);
        return new Run(code, err.toString());
    }

    @Test
    void selectsTheExpertsTheDemonstrationsUse(@TempDir Path dir) throws Exception {
        Path math = stats(dir, "math", "fp", 1, 1, 1, 2, 2, 5);
        Path mask = dir.resolve("m.json");
        assertEquals(0, run("select", math.toString(), "--method", "frequency", "--keep", "3", "--out", mask.toString(),
                "--export-easyep", dir.resolve("e.json").toString()).code());
        ExpertMask m = MaskFiles.read(mask);
        assertArrayEquals(new int[][]{{1, 2, 5}, {1, 2, 5}}, m.kept());
        assertEquals("frequency", m.method());
        assertEquals("qwen3_moe", m.family());
        assertTrue(Files.readString(dir.resolve("e.json")).contains("1.0"));
    }

    @Test
    void mixedDomainsAddNormalisedScores(@TempDir Path dir) {
        Path a = stats(dir, "a", "fp", 0, 0, 0, 0, 0, 0, 0, 0, 3);   // long domain: expert 0 dominates
        Path b = stats(dir, "b", "fp", 6, 7);                         // short domain: 6 and 7 equally
        Path mask = dir.resolve("mix.json");
        assertEquals(0, run("select", a.toString(), b.toString(), "--method", "frequency", "--keep", "3",
                "--out", mask.toString()).code());
        // normalised: a = {0: .89, 3: .11}, b = {6: .5, 7: .5} -> top-3 = 0, 6, 7
        assertArrayEquals(new int[]{0, 6, 7}, MaskFiles.read(mask).kept()[0]);
    }

    @Test
    void badRequestsAreOneLineErrors(@TempDir Path dir) {
        Path a = stats(dir, "a", "fp1", 1, 2);
        Path other = stats(dir, "b", "fp2", 1, 2);
        String out = dir.resolve("m.json").toString();
        Run mismatch = run("select", a.toString(), other.toString(), "--keep", "4", "--out", out);
        assertEquals(2, mismatch.code());
        assertTrue(mismatch.err().contains("statistics from another model") && mismatch.err().contains("b.stats"), mismatch.err());
        assertTrue(run("select", a.toString(), "--keep", "9", "--out", out).err().contains("only 8"));
        assertTrue(run("select", a.toString(), "--keep", "1", "--out", out).err().contains("at least 2"));
        Run unknown = run("select", a.toString(), "--method", "magic", "--keep", "4", "--out", out);
        assertTrue(unknown.err().contains("unknown method 'magic'"), unknown.err());
        for (Run r : List.of(mismatch, unknown)) {
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        assertFalse(Files.exists(Path.of(out)), "no mask written on error");
    }
}
