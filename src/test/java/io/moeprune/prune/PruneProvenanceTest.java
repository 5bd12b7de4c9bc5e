package io.moeprune.prune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.provenance.Provenance;
import io.moeprune.provenance.ProvenanceFile;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** moeprune.json and the model card of pruned checkpoints, over one and two prunes (conformance fixture). */
class PruneProvenanceTest {
    static final Path QWEN = PruneFixtures.CONFORMANCE.resolve("qwen3_moe");   // MoE layers 0 and 2, 8 experts, top-2
    static final ExpertMask.DomainRef MATH = new ExpertMask.DomainRef("math", 1.0, 2, 57,
            List.of(new ExpertStats.Demo("9f86d081884c7d65", 25), new ExpertStats.Demo("60303ae22b998861", 32)));

    @TempDir
    Path tmp;

    static ExpertMask mask(ModelSpec spec, int[][] kept) {
        return new ExpertMask("", spec.family().modelType(), spec.moe().numExperts(), spec.moe().topK(),
                spec.moeLayers(), kept, "easyep", "per-layer " + kept[0].length, List.of(MATH));
    }

    static String fingerprint(Path model) {
        try (Checkpoint c = Checkpoint.open(model)) {
            return ModelFingerprint.of(ConfigReader.read(model), c);
        }
    }

    /** Prunes {@code model} into tmp/out with a mask of these kept experts (written to tmp/out.mask/). */
    private Path prune(Path model, int[][] kept, String out) throws IOException {
        Path maskFile = PruneFixtures.writeMask(mask(ConfigReader.read(model), kept),
                Files.createDirectories(tmp.resolve(out + ".mask")));
        Pruner.prune(model, maskFile, tmp.resolve(out), Pruner.Options.defaults());
        return tmp.resolve(out);
    }

    @Test
    void recordHoldsSourceMaskDomainsAndKeptIds() throws IOException {
        int[][] kept = {{0, 3, 5, 6}, {2, 3, 5, 7}};
        Path out = prune(QWEN, kept, "half");
        JsonNode j = new ObjectMapper().readTree(out.resolve("moeprune.json").toFile());
        assertEquals("moeprune-provenance", j.get("format").asText());
        assertEquals("moeprune 0.1.0", j.get("tool").asText());
        assertTrue(j.get("created").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"), j.get("created").asText());
        assertEquals(QWEN.toAbsolutePath().normalize().toString(), j.get("source").get("path").asText());
        assertEquals(fingerprint(QWEN), j.get("source").get("fingerprint").asText());
        assertEquals(j.get("source"), j.get("original"));
        assertEquals(fingerprint(out), j.get("model").get("fingerprint").asText());
        assertEquals(4, j.get("model").get("num_experts").asInt());
        assertEquals(8, j.get("original").get("num_experts").asInt());
        assertEquals("default", j.get("strategy").asText());
        assertEquals("easyep", j.get("method").asText());
        assertEquals("per-layer 4", j.get("budget").asText());
        JsonNode math = j.get("domains").get(0);
        assertEquals("math", math.get("name").asText());
        assertEquals(57, math.get("tokens").asLong());
        assertEquals("60303ae22b998861", math.get("demonstrations").get(1).get("sha256").asText());
        assertEquals(32, math.get("demonstrations").get(1).get("tokens").asInt());
        assertEquals("[2,3,5,7]", j.get("layers").get("2").toString());
        assertEquals(1, j.get("steps").size());
        Provenance p = ProvenanceFile.read(out.resolve("moeprune.json"));
        assertArrayEquals(kept, p.kept());

        String card = Files.readString(out.resolve("README.md"));   // the fixture has no card: the section alone
        assertTrue(card.startsWith("---\nbase_model: qwen3_moe\n---\n\n<!-- moeprune:"), card);
        assertTrue(card.contains("it keeps **4 of 8 experts** in each of its 2 MoE layers"), card);
        assertTrue(card.contains("- Domains: math (2 demonstrations, 57 tokens)"), card);
    }

    @Test
    void theStrategyIsTheOneTheMaskNames() throws IOException {
        // Masks name their expert-group routing strategy in a top-level "strategy" (issue 18, part 1).
        Path maskFile = PruneFixtures.writeMask(mask(ConfigReader.read(QWEN), new int[][]{{0, 1, 2, 3}, {4, 5, 6, 7}}), tmp);
        Files.writeString(maskFile, Files.readString(maskFile).replaceFirst("\\{", "{\"strategy\": \"nogroup\","));
        Pruner.prune(QWEN, maskFile, tmp.resolve("out"), Pruner.Options.defaults());
        Provenance p = ProvenanceFile.read(tmp.resolve("out").resolve("moeprune.json"));
        assertEquals("nogroup", p.last().strategy());
        assertEquals(maskFile.toAbsolutePath().normalize().toString(), p.last().mask());
    }

    @Test
    void pruningAPrunedModelComposesTheMapsAndItsRecordReproducesIt() throws IOException {
        Path half = prune(QWEN, new int[][]{{0, 3, 5, 6}, {2, 3, 5, 7}}, "half");
        Path quarter = prune(half, new int[][]{{1, 3}, {0, 2}}, "quarter");
        Provenance p = ProvenanceFile.read(quarter.resolve("moeprune.json"));
        // new expert i of the second prune = expert kept2[i] of the first checkpoint = original kept1[kept2[i]]
        assertArrayEquals(new int[][]{{3, 6}, {2, 5}}, p.kept());
        assertEquals(QWEN.toAbsolutePath().normalize().toString(), p.original().path());
        assertEquals(List.of(QWEN.toAbsolutePath().normalize().toString(), half.toAbsolutePath().normalize().toString()),
                p.steps().stream().map(s -> s.source().path()).toList());
        assertArrayEquals(new int[][]{{1, 3}, {0, 2}}, p.last().kept());
        assertEquals(fingerprint(half), p.last().source().fingerprint());
        String card = Files.readString(quarter.resolve("README.md"));
        assertTrue(card.contains("it keeps **2 of 8 experts**") && card.contains("itself pruned from `"
                + QWEN.toAbsolutePath().normalize() + "` (2 pruning steps"), card);
        assertTrue(card.endsWith(Files.readString(half.resolve("README.md")).substring("---\nbase_model: qwen3_moe\n---\n".length())),
                "the source card follows unchanged (after its front matter)");

        // The record is a mask of the original: one prune with it gives the same tensors as the two prunes.
        Path again = tmp.resolve("again");
        Pruner.prune(QWEN, quarter.resolve("moeprune.json"), again, Pruner.Options.defaults());
        Map<String, String> a = PruneFixtures.hashes(again), b = PruneFixtures.hashes(quarter);
        for (String f : b.keySet()) {
            if (f.endsWith(".safetensors") || f.equals("config.json")) assertEquals(b.get(f), a.get(f), f);
        }
        assertArrayEquals(p.kept(), ProvenanceFile.read(again.resolve("moeprune.json")).kept());
    }

    @Test
    void theSourceCardKeepsItsFrontMatterFirstAndAnUnreadableOneIsRefused() throws IOException {
        Path model = copy(QWEN, tmp.resolve("with-card"));
        String card = "---\nlicense: apache-2.0\nbase_model: someone/base\n---\n# A card\n\nWith text.\n";
        Files.writeString(model.resolve("README.md"), card);
        Path out = prune(model, new int[][]{{0, 3, 5, 6}, {2, 3, 5, 7}}, "pruned");
        String written = Files.readString(out.resolve("README.md"));
        assertTrue(written.startsWith("---\nlicense: apache-2.0\nbase_model: with-card\n---\n\n<!-- moeprune:"), written);
        assertTrue(written.endsWith("follows unchanged.\n\n# A card\n\nWith text.\n"), written);
        assertEquals(card, Files.readString(model.resolve("README.md")), "the input is only read");

        Files.write(model.resolve("README.md"), new byte[]{'#', ' ', (byte) 0xff, (byte) 0xfe, '\n'});
        Path maskFile = PruneFixtures.writeMask(mask(ConfigReader.read(model), new int[][]{{0, 1}, {0, 1}}), tmp);
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> Pruner.prune(model, maskFile, tmp.resolve("out"), Pruner.Options.defaults()));
        assertEquals(model.resolve("README.md") + ": is not UTF-8 text; the pruned model's card cannot be made from it",
                e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        for (Path f : Files.list(from).toList()) Files.copy(f, to.resolve(f.getFileName()));
        return to;
    }

    @Test
    void aStaleRecordInTheSourceIsRefusedAndNothingIsWritten() throws IOException {
        Path half = prune(QWEN, new int[][]{{0, 3, 5, 6}, {2, 3, 5, 7}}, "half");
        Path copy = copy(half, tmp.resolve("edited"));
        Path record = copy.resolve("moeprune.json");
        Files.writeString(record, Files.readString(record).replace(fingerprint(half), "sha256:000000000000000000000000"));
        Path maskFile = PruneFixtures.writeMask(mask(ConfigReader.read(copy), new int[][]{{0, 1}, {0, 1}}), tmp);
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> Pruner.prune(copy, maskFile, tmp.resolve("out"), Pruner.Options.defaults()));
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        assertTrue(e.getMessage().startsWith(record + ": describes a model with fingerprint sha256:0000"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));
    }
}
