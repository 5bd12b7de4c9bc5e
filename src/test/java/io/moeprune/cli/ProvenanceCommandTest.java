package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.provenance.Provenance;
import io.moeprune.provenance.ProvenanceFile;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** What a pruned checkpoint says about itself, through the command line: moeprune.json, inspect, mask exchange. */
class ProvenanceCommandTest {
    static final Path QWEN = Path.of("src/test/resources/conformance/qwen3_moe");   // MoE layers 0 and 2, 8 experts

    @Test
    void calibrateSelectPruneRecordsTheDemonstrationsAndInspectShowsThem(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(CalibrateCommandTest.MODEL), "../shared/models/moe-tiny-7d is absent: skipping");
        Path demos = dir.resolve("math.jsonl"), stats = dir.resolve("math.stats"), mask = dir.resolve("m.json"),
                out = dir.resolve("pruned");
        Files.writeString(demos, """
                {"prompt": "Question: 7*6?\\nAnswer:", "response": " 42"}
                {"text": "The derivative of x^2 is 2x, and the integral of 2x is x^2 + C."}
                """);
        assertEquals(0, SelectCommandTest.run("calibrate", CalibrateCommandTest.MODEL.toString(), "--data", demos.toString(),
                "--out", stats.toString(), "--quiet").code());
        assertEquals(0, SelectCommandTest.run("select", stats.toString(), "--keep", "8", "--out", mask.toString()).code());
        SelectCommandTest.Run pruned = SelectCommandTest.run("prune", CalibrateCommandTest.MODEL.toString(), "--mask",
                mask.toString(), "--out", out.toString(), "--json");
        assertEquals(0, pruned.code(), pruned.err());

        ExpertStats s = StatsFile.read(stats);
        Provenance p = ProvenanceFile.read(out.resolve("moeprune.json"));
        ExpertMask.DomainRef math = p.last().domains().getFirst();
        assertEquals("math", math.name());
        assertEquals(s.demos(), math.demonstrations());                      // hashes and token counts of the stats file
        assertEquals(s.totalTokens(), math.tokens());
        assertEquals(2, math.demonstrations().size());
        assertTrue(math.demonstrations().getFirst().sha256().matches("[0-9a-f]{64}"));
        assertArrayEquals(MaskFiles.read(mask).kept(), p.kept());
        assertEquals(s.fingerprint(), p.original().fingerprint());

        InspectCommandTest.Run text = InspectCommandTest.run("inspect", out.toString());
        assertEquals(0, text.exit(), text.err());
        assertTrue(text.out().contains("Pruned from      " + CalibrateCommandTest.MODEL.toAbsolutePath().normalize()
                + " (" + s.fingerprint() + ", 32 experts) by moeprune 0.1.0"), text.out());
        assertTrue(text.out().contains("Domains          math (2 demonstrations, " + String.format("%,d", s.totalTokens()) + " tokens)"), text.out());
        String layer7 = java.util.Arrays.toString(p.kept()[7]);
        assertTrue(text.out().contains("Kept experts     8 of 32 per MoE layer; original ids in the new order:\n")
                && text.out().contains("  layer   7: " + layer7 + "\n"), text.out());
    }

    @Test
    void inspectShowsTheRecordAsTextAndJsonAndNullForAnUnprunedModel(@TempDir Path dir) throws Exception {
        Path mask = dir.resolve("m.json"), out = dir.resolve("pruned");
        Files.writeString(mask, importedMask(dir));
        assertEquals(0, SelectCommandTest.run("prune", QWEN.toString(), "--mask", mask.toString(), "--out", out.toString()).code());
        InspectCommandTest.Run text = InspectCommandTest.run("inspect", out.toString());
        assertTrue(text.out().contains("Selection        imported-reap, budget from reap.json, strategy default\n"), text.out());
        assertTrue(text.out().contains("  layer   2: [1, 2, 6, 7]\n"), text.out());
        JsonNode j = new ObjectMapper().readTree(InspectCommandTest.run("inspect", out.toString(), "--json").out());
        assertEquals("[0,3,4,5]", j.get("provenance").get("layers").get("0").toString());
        assertEquals(8, j.get("provenance").get("original").get("num_experts").asInt());
        assertEquals(4, j.get("moe").get("experts").asInt());
        assertTrue(new ObjectMapper().readTree(InspectCommandTest.run("inspect", QWEN.toString(), "--json").out())
                .get("provenance").isNull());
    }

    /** A native mask for the fixture made by importing a REAP report, as text. */
    private static String importedMask(Path dir) throws Exception {
        Path reap = dir.resolve("reap.json"), mask = dir.resolve("imported.json");
        Files.writeString(reap, "{\"model.layers.0.mlp\": [0, 3, 4, 5], \"model.layers.2.mlp\": [1, 2, 6, 7]}");
        assertEquals(0, SelectCommandTest.run("select", "--import-reap", reap.toString(), "--model", QWEN.toString(),
                "--out", mask.toString()).code());
        return Files.readString(mask);
    }

    @Test
    void importExportRoundTripsThroughReapAndEasyEp(@TempDir Path dir) throws Exception {
        Path reap = dir.resolve("reap.json"), easyep = dir.resolve("easyep.json"), reap2 = dir.resolve("reap2.json");
        Files.writeString(reap, "{\"model.layers.0.mlp\": [0, 3, 4, 5], \"model.layers.2.mlp\": [1, 2, 6, 7]}");
        Path a = dir.resolve("a.json"), b = dir.resolve("b.json");
        assertEquals(0, SelectCommandTest.run("select", "--import-reap", reap.toString(), "--model", QWEN.toString(),
                "--out", a.toString(), "--export-easyep", easyep.toString()).code());
        assertEquals(0, SelectCommandTest.run("select", "--import-easyep", easyep.toString(), "--model", QWEN.toString(),
                "--out", b.toString(), "--export-reap", reap2.toString()).code());
        assertArrayEquals(new int[][]{{0, 3, 4, 5}, {1, 2, 6, 7}}, MaskFiles.read(b).kept());
        assertEquals(new ObjectMapper().readTree(reap.toFile()), new ObjectMapper().readTree(reap2.toFile()));
        assertEquals(MaskFiles.read(a).fingerprint(), MaskFiles.read(b).fingerprint());

        SelectCommandTest.Run both = SelectCommandTest.run("select", "--import-reap", reap.toString(), "--import-easyep",
                easyep.toString(), "--model", QWEN.toString(), "--out", dir.resolve("c.json").toString());
        assertEquals(2, both.code());
        assertTrue(both.err().contains("give one of --import-easyep and --import-reap"), both.err());
        SelectCommandTest.Run noModel = SelectCommandTest.run("select", "--import-reap", reap.toString(), "--out",
                dir.resolve("c.json").toString());
        assertTrue(noModel.err().contains("--import-reap needs --model MODEL"), noModel.err());
    }
}
