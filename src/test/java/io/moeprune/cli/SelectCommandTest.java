package io.moeprune.cli;

import io.moeprune.calibrate.CalibrationAccumulator;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;
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
        return stats(dir, domain, fingerprint, MoeSpec.Groups.NONE, experts);
    }

    /** The same for a model with the given expert groups (8 experts: n_group must divide 8). */
    static Path stats(Path dir, String domain, String fingerprint, MoeSpec.Groups groups, int... experts) {
        CalibrationAccumulator acc = new CalibrationAccumulator(2, 8, 2);
        for (int l = 0; l < 2; l++) {
            for (int e : experts) {
                acc.token(l, new float[]{1, 0}, new float[]{0, 1}, new int[]{e}, new float[]{1f}, new float[]{1f},
                        new float[8]);
            }
        }
        acc.endDemo("x", experts.length);
        Path p = dir.resolve(domain + ".stats");
        StatsFile.write(acc.result(fingerprint, domain, List.of(0, 1)), "qwen3_moe", groups, p);
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

    /** DeepSeek-V2-like (best expert scores a group) and DeepSeek-V3-like (top-2 sum) groups of 2 experts. */
    private static final MoeSpec.Groups FOUR_GROUPS = new MoeSpec.Groups(4, 2, MoeSpec.Groups.GroupScore.MAX);
    private static final MoeSpec.Groups FOUR_TOP2_GROUPS = new MoeSpec.Groups(4, 2, MoeSpec.Groups.GroupScore.SUM_TOP2);

    @Test
    void theStrategyIsRecordedAndNogroupIsTheDefault(@TempDir Path dir) {
        Path a = stats(dir, "a", "fp", FOUR_GROUPS, 0, 0, 0, 1, 1, 2, 5);
        assertEquals(FOUR_GROUPS, StatsFile.groups(a));
        Path mask = dir.resolve("m.json");
        assertEquals(0, run("select", a.toString(), "--method", "frequency", "--keep", "4", "--out", mask.toString()).code());
        ExpertMask m = MaskFiles.read(mask);
        assertEquals(GroupStrategy.NOGROUP, m.strategy());
        assertArrayEquals(new int[]{0, 1, 2, 5}, m.kept()[0]);   // top-4 by score, three of them in group 0

        assertEquals(0, run("select", a.toString(), "--method", "frequency", "--keep", "4", "--strategy", "balanced",
                "--out", mask.toString()).code());
        m = MaskFiles.read(mask);
        assertEquals(GroupStrategy.BALANCED, m.strategy());
        assertArrayEquals(new int[]{0, 2, 5, 6}, m.kept()[0]);   // one per group of 2: {0,1} {2,3} {4,5} {6,7}

        assertEquals(0, run("select", a.toString(), "--method", "frequency", "--keep", "4", "--strategy", "easyep-mul",
                "--out", mask.toString()).code());
        assertEquals(GroupStrategy.EASYEP_MUL, MaskFiles.read(mask).strategy());
    }

    @Test
    void balancedNeedsGroupsThatSplitK(@TempDir Path dir) {
        String out = dir.resolve("m.json").toString();
        Path grouped = stats(dir, "g", "fp", FOUR_TOP2_GROUPS, 0, 1, 2, 3);
        Run notMultiple = run("select", grouped.toString(), "--keep", "6", "--strategy", "balanced", "--out", out);
        assertEquals(2, notMultiple.code());
        assertTrue(notMultiple.err().contains("K must be a multiple of 4, not 6"), notMultiple.err());
        Run tooFew = run("select", grouped.toString(), "--keep", "4", "--strategy", "balanced", "--out", out);
        assertTrue(tooFew.err().contains("needs at least 2 per group"), tooFew.err());
        Path flat = stats(dir, "f", "fp", 0, 1, 2, 3);
        Run noGroups = run("select", flat.toString(), "--keep", "4", "--strategy", "balanced", "--out", out);
        assertTrue(noGroups.err().contains("the model has no expert groups"), noGroups.err());
        Run unknown = run("select", flat.toString(), "--keep", "4", "--strategy", "per-group", "--out", out);
        assertTrue(unknown.err().contains("unknown strategy 'per-group'; use one of nogroup, balanced, easyep-mul"),
                unknown.err());
        for (Run r : List.of(notMultiple, tooFew, noGroups, unknown)) {
            assertEquals(2, r.code());
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        }
        assertFalse(Files.exists(Path.of(out)), "no mask written on error");
    }

    @Test
    void aMaskWithoutStrategyKeepsItsOldMeaning(@TempDir Path dir) throws Exception {
        Path a = stats(dir, "a", "fp", 1, 2, 5);
        Path mask = dir.resolve("m.json");
        assertEquals(0, run("select", a.toString(), "--method", "frequency", "--keep", "3", "--out", mask.toString()).code());
        String text = Files.readString(mask);
        assertTrue(text.contains("\"strategy\" : \"nogroup\""), text);
        Files.writeString(mask, text.replace("\"strategy\" : \"nogroup\",", ""));
        ExpertMask old = MaskFiles.read(mask);
        assertNull(old.strategy());
        assertEquals(GroupStrategy.BALANCED, old.routing());
    }
}
