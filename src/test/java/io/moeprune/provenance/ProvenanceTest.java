package io.moeprune.provenance;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Composition of pruning steps and the moeprune.json round trip. */
class ProvenanceTest {
    static final List<Integer> LAYERS = List.of(1, 2);
    static final ExpertMask.DomainRef MATH = new ExpertMask.DomainRef("math", 1.0, 2, 30,
            List.of(new ExpertStats.Demo("aa11", 10), new ExpertStats.Demo("bb22", 20)));

    static Provenance.ModelRef model(String path, String fingerprint, int experts) {
        return new Provenance.ModelRef(path, fingerprint, "qwen3_moe", experts, 2, LAYERS);
    }

    static Provenance.Step step(Provenance.ModelRef source, int[][] kept) {
        return new Provenance.Step("moeprune 0.1.0", "2026-01-02T03:04:05Z", source, "/m.json", "default", "easyep",
                "per-layer " + kept[0].length, List.of(MATH), kept);
    }

    /** 32 experts -> 4 (layer 1: 2, 5, 9, 30) -> 2 (new ids 1 and 3): the second checkpoint holds originals 5 and 30. */
    static Provenance twoSteps() {
        Provenance.ModelRef original = model("/models/full", "sha256:full", 32);
        Provenance.ModelRef four = model("/models/four", "sha256:four", 4);
        Provenance first = Provenance.after(null, step(original, new int[][]{{2, 5, 9, 30}, {0, 1, 2, 3}}), four);
        return Provenance.after(first, step(four, new int[][]{{1, 3}, {0, 2}}), model("", "sha256:two", 2));
    }

    @Test
    void aFirstStepKeepsTheMasksIdsAndTheSourceIsTheOriginal() {
        Provenance.ModelRef original = model("/models/full", "sha256:full", 32);
        Provenance p = Provenance.after(null, step(original, new int[][]{{2, 5, 9, 30}, {0, 1, 2, 3}}), model("", "sha256:four", 4));
        assertArrayEquals(new int[][]{{2, 5, 9, 30}, {0, 1, 2, 3}}, p.kept());
        assertEquals(original, p.original());
        assertEquals(1, p.steps().size());
        assertEquals(4, p.keptPerLayer());
    }

    @Test
    void aSecondStepMapsItsIdsBackToTheOriginal() {
        Provenance p = twoSteps();
        assertArrayEquals(new int[][]{{5, 30}, {0, 2}}, p.kept());
        assertEquals("/models/full", p.original().path());
        assertEquals(List.of("/models/full", "/models/four"), p.steps().stream().map(s -> s.source().path()).toList());
        ExpertMask asMask = p.asMask();
        assertEquals("sha256:full", asMask.fingerprint());
        assertEquals(32, asMask.numExperts());
        assertArrayEquals(new int[][]{{5, 30}, {0, 2}}, asMask.kept());
    }

    @Test
    void jsonRoundTripKeepsEveryField(@TempDir Path dir) throws IOException {
        Provenance p = twoSteps();
        Path f = dir.resolve(ProvenanceFile.NAME);
        ProvenanceFile.write(p, f);
        Provenance back = ProvenanceFile.read(f);
        assertArrayEquals(p.kept(), back.kept());
        assertEquals(p.original(), back.original());
        assertEquals(p.model(), back.model());
        assertEquals(2, back.steps().size());
        assertArrayEquals(new int[][]{{1, 3}, {0, 2}}, back.last().kept());
        assertEquals(List.of(MATH), back.last().domains());
        assertEquals("moeprune 0.1.0", back.tool());
        String text = Files.readString(f);
        assertTrue(text.contains("\"sha256\" : \"bb22\""), text);
        assertTrue(ProvenanceFile.isProvenance(f));
        assertEquals("default", back.last().strategy());
        assertNull(back.asMask().strategy());
    }

    @Test
    void aRecordOfAnotherModelIsRefusedInOneLine(@TempDir Path dir) throws IOException {
        ProvenanceFile.write(twoSteps(), dir.resolve(ProvenanceFile.NAME));
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> ProvenanceFile.ofSource(dir, "sha256:other", LAYERS));
        assertTrue(e.getMessage().contains("moeprune.json: describes a model with fingerprint sha256:two"), e.getMessage());
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        assertNotNull(ProvenanceFile.ofSource(dir, "sha256:two", LAYERS));
        assertNull(ProvenanceFile.of(dir.resolve("elsewhere")));
    }

    @Test
    void corruptRecordsAreOneLineErrors(@TempDir Path dir) throws IOException {
        Path f = dir.resolve(ProvenanceFile.NAME);
        Files.writeString(f, "{\"format\": \"moeprune-provenance\", \"version\": 1, \"original\": {\"num_experts\": 8}, \"steps\": []}");
        assertTrue(assertThrows(MoepruneException.class, () -> ProvenanceFile.read(f)).getMessage()
                .endsWith("moeprune.json: \"steps\" lists no pruning step"));
        Files.writeString(f, "{not json");
        assertTrue(assertThrows(MoepruneException.class, () -> ProvenanceFile.read(f)).getMessage().contains("not valid JSON"));
    }
}
