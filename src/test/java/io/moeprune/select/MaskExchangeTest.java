package io.moeprune.select;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Mask files in and out: the demonstrations a native mask records, and llm-compressor REAP's report. */
class MaskExchangeTest {
    static final List<Integer> LAYERS = List.of(0, 2);

    static ExpertMask mask(int[][] kept, List<ExpertMask.DomainRef> domains) {
        return new ExpertMask("sha256:abc", "qwen3_moe", 8, 2, LAYERS, kept, "easyep", "per-layer 4", domains);
    }

    static ExpertMask reap(Path f) {
        return ReapReport.importReport(f, "sha256:abc", "qwen3_moe", 8, 2, LAYERS);
    }

    @Test
    void nativeMaskKeepsEachDomainsDemonstrations(@TempDir Path dir) {
        ExpertMask.DomainRef math = new ExpertMask.DomainRef("math", 0.5, 2, 30,
                List.of(new ExpertStats.Demo("aa11", 10), new ExpertStats.Demo("bb22", 20)));
        Path f = dir.resolve("m.json");
        MaskFiles.write(mask(new int[][]{{0, 1, 2, 3}, {4, 5, 6, 7}}, List.of(math)), f);
        assertEquals(List.of(math), MaskFiles.read(f).domains());
    }

    @Test
    void aMaskWrittenBeforeDemonstrationsWereRecordedStillReads(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("old.json");
        Files.writeString(f, """
                {"format": "moeprune-expert-mask", "version": 1,
                 "model": {"fingerprint": "sha256:abc", "family": "qwen3_moe", "num_experts": 8, "top_k": 2, "moe_layers": [0, 2]},
                 "method": "easyep", "budget": "per-layer 2",
                 "domains": [{"name": "math", "weight": 1.0, "demos": 8, "tokens": 1383}],
                 "layers": {"0": [1, 4], "2": [0, 7]}}
                """);
        ExpertMask m = MaskFiles.read(f);
        assertEquals(new ExpertMask.DomainRef("math", 1.0, 8, 1383), m.domains().getFirst());
        assertEquals(List.of(), m.domains().getFirst().demonstrations());
    }

    @Test
    void reapReportRoundTrip(@TempDir Path dir) throws IOException {
        ExpertMask m = mask(new int[][]{{0, 3, 5, 6}, {1, 2, 4, 7}}, List.of());
        Path f = dir.resolve("reap.json");
        ReapReport.export(m, f);
        String text = Files.readString(f);
        assertTrue(text.contains("\"model.layers.2.mlp\" : [ 1, 2, 4, 7 ]"), text);
        ExpertMask back = reap(f);
        assertArrayEquals(m.kept(), back.kept());
        assertEquals("imported-reap", back.method());
        assertEquals("sha256:abc", back.fingerprint());
    }

    @Test
    void readsTheReportAsTheModifierWritesIt(@TempDir Path dir) throws IOException {
        // json.dump(self._retained_experts, f): module name -> retained ids, Python's separators, layers in the order
        // they were pruned. Mixtral checkpoints of transformers 4 name the block block_sparse_moe.
        Path f = dir.resolve("report.json");
        Files.writeString(f, "{\"model.layers.2.block_sparse_moe\": [0, 1, 5, 6], \"model.layers.0.mlp\": [2, 3, 4, 7]}");
        assertArrayEquals(new int[][]{{2, 3, 4, 7}, {0, 1, 5, 6}}, reap(f).kept());
        // A layer REAP's ignore patterns skipped was left whole.
        Files.writeString(f, "{\"model.layers.0.mlp\": [2, 3, 4, 7]}");
        assertArrayEquals(new int[][]{{2, 3, 4, 7}, {0, 1, 2, 3, 4, 5, 6, 7}}, reap(f).kept());
    }

    @Test
    void badReportsAreOneLineErrorsNamingTheFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("r.json");
        String[][] cases = {
                {"[[1.0, 0.0]]", "a REAP report is a JSON object"},
                {"{\"lm_head\": [0, 1]}", "module name 'lm_head' names no layer"},
                {"{\"model.layers.1.mlp\": [0, 1]}", "layer 1 is not a MoE layer of the model"},
                {"{\"model.layers.0.mlp\": [0, 9]}", "layer 0: expert id 9 is out of range 0..7"},
                {"{\"model.layers.0.mlp\": [0]}", "layer 0 keeps 1 experts, fewer than the 2"},
                {"{\"model.layers.0.mlp\": [0, 1], \"model.layers.0.moe\": [0, 1]}", "layer 0 is listed twice"},
        };
        for (String[] c : cases) {
            Files.writeString(f, c[0]);
            MoepruneException e = assertThrows(MoepruneException.class, () -> reap(f), c[0]);
            assertTrue(e.getMessage().startsWith(f + ": ") && e.getMessage().contains(c[1]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }
}
