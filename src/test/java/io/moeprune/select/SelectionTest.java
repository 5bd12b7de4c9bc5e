package io.moeprune.select;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SelectionTest {

    /** Two demonstrations, one MoE layer (model layer 3), four experts, hand-made sums. */
    static ExpertStats handMade() {
        Map<Statistic, double[][][]> v = new EnumMap<>(Statistic.class);
        // demo 0 and demo 1; experts 0..3
        v.put(Statistic.TOKENS_ROUTED, new double[][][]{{{4, 1, 2, 1}}, {{2, 1, 0, 1}}});
        v.put(Statistic.SUM_G, new double[][][]{{{1.0, 0.5, 0.8, 0.7}}, {{0.6, 0.2, 0.0, 0.2}}});
        v.put(Statistic.SUM_G_NORM, new double[][][]{{{2.0, 3.0, 1.0, 0.5}}, {{1.0, 1.0, 0.0, 0.5}}});
        v.put(Statistic.SUM_G_NORM_S, new double[][][]{{{0.2, 0.9, 0.1, 0.05}}, {{0.1, 0.3, 0.0, 0.05}}});
        v.put(Statistic.SUM_G_S, new double[][][]{{{0.1, 0.05, 0.3, 0.2}}, {{0.0, 0.0, 0.0, 0.3}}});
        v.put(Statistic.PREMOE_TOP1_LOGIT, new double[][][]{{{5.0, -1.0, 0.0, 2.0}}, {{1.0, 0.0, 0.0, 0.0}}});
        v.put(Statistic.PREMOE_TOPK_PROB, new double[][][]{{{1.5, 0.2, 0.9, 0.4}}, {{1.0, 0.3, 0.0, 0.7}}});
        v.put(Statistic.MAX_G_NORM, new double[][][]{{{0.9, 2.0, 0.5, 0.5}}, {{1.5, 1.0, 0.0, 0.5}}});
        return new ExpertStats("fp", "math", List.of(3), 4, 2,
                List.of(new ExpertStats.Demo("a", 8), new ExpertStats.Demo("b", 4)), v);
    }

    @Test
    void everyMethodComputesItsFormula() {
        ExpertStats s = handMade();
        assertArrayEquals(new double[]{0.3, 1.2, 0.1, 0.1}, Method.EASYEP.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{3.0, 4.0, 1.0, 1.0}, Method.EASYEP_NO_TOKEN.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{0.1, 0.05, 0.3, 0.5}, Method.EASYEP_NO_NORM.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{1.6, 0.7, 0.8, 0.9}, Method.GATING.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{6, 2, 2, 2}, Method.FREQUENCY.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{0.5, 2.0, 0.5, 0.5}, Method.REAP.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{6.0, -1.0, 0.0, 2.0}, Method.PREMOE.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{2.5, 0.5, 0.9, 1.1}, Method.PREMOE_PROB.scores(s, 0)[0], 1e-12);
        assertArrayEquals(new double[]{1.5, 2.0, 0.5, 0.5}, s.aggregate(Statistic.MAX_G_NORM)[0], 1e-12);
        // the first demonstration alone
        assertArrayEquals(new double[]{0.2, 0.9, 0.1, 0.05}, s.firstDemos(1).aggregate(Statistic.SUM_G_NORM_S)[0], 1e-12);
    }

    @Test
    void randomIsSeededAndDiffersBetweenSeeds() {
        ExpertStats s = handMade();
        assertArrayEquals(Method.RANDOM.scores(s, 7)[0], Method.RANDOM.scores(s, 7)[0]);
        assertFalse(java.util.Arrays.equals(Method.RANDOM.scores(s, 7)[0], Method.RANDOM.scores(s, 8)[0]));
    }

    @Test
    void selectionKeepsTopKAndBreaksTiesByLowerId() {
        double[][] scores = {{0.5, 0.9, 0.5, 0.5, 0.1}};
        assertArrayEquals(new int[]{0, 1}, ExpertSelector.select(scores, Budget.perLayer(2), 2)[0]);
        assertArrayEquals(new int[]{0, 1, 2}, ExpertSelector.select(scores, Budget.perLayer(3), 2)[0]);
        assertArrayEquals(new Integer[]{1, 0, 2, 3, 4}, ExpertSelector.ranking(scores[0]));
    }

    @Test
    void badBudgetsAreOneLineErrors() {
        double[][] scores = {{1, 2, 3, 4}};
        var tooMany = assertThrows(MoepruneException.class, () -> ExpertSelector.select(scores, Budget.perLayer(5), 2));
        assertTrue(tooMany.getMessage().contains("only 4"), tooMany.getMessage());
        var tooFew = assertThrows(MoepruneException.class, () -> ExpertSelector.select(scores, Budget.perLayer(1), 2));
        assertTrue(tooFew.getMessage().contains("at least 2"), tooFew.getMessage());
        var unknown = assertThrows(MoepruneException.class, () -> Method.parse("magic"));
        assertTrue(unknown.getMessage().contains("easyep"), unknown.getMessage());
    }

    @Test
    void mixedDomainNormalisesEachDomainPerLayer() {
        double[][] a = {{10, 30, 60, 0}};        // sums to 100
        double[][] b = {{1, 1, 0, 2}};           // sums to 4
        double[][] mixed = MixedDomain.combine(List.of(a, b), null);
        assertArrayEquals(new double[]{0.35, 0.55, 0.6, 0.5}, mixed[0], 1e-12);
        double[][] weighted = MixedDomain.combine(List.of(a, b), new double[]{1.0, 2.0});
        assertArrayEquals(new double[]{0.6, 0.8, 0.6, 1.0}, weighted[0], 1e-12);
        // negative scores (PreMoe markers) are shifted to start at 0 before normalising
        assertArrayEquals(new double[]{0.5, 0.0, 0.5}, MixedDomain.normalisePerLayer(new double[][]{{1, -1, 1}})[0], 1e-12);
    }

    @Test
    void globalBudgetGivesConcentratedLayersFewerExperts() {
        // layer 0: importance concentrated on 2 experts; layer 1: spread evenly
        double[][] scores = {{50, 50, 0.1, 0.1, 0.1, 0.1}, {1, 1, 1, 1, 1, 1}};
        int[][] kept = ExpertSelector.select(scores, Budget.global(4, 2), 2);
        assertEquals(8, kept[0].length + kept[1].length);
        assertArrayEquals(new int[]{0, 1}, kept[0]);
        assertEquals(6, kept[1].length);
    }

    @Test
    void perGroupKeepsAnEqualNumberInEveryGroup() {
        double[][] scores = {{9, 8, 7, 6, 1, 2, 3, 4}};  // groups {0..3}, {4..7}
        assertArrayEquals(new int[]{0, 1, 6, 7}, ExpertSelector.select(scores, Budget.perLayer(4).withGroups(2), 2)[0]);
        assertThrows(MoepruneException.class, () -> ExpertSelector.select(scores, Budget.perLayer(3).withGroups(2), 2));
    }

    @Test
    void maskRoundTripsInBothFormats(@TempDir Path dir) throws Exception {
        ExpertMask mask = new ExpertMask("fp123", "qwen3_moe", 8, 2, List.of(0, 2), new int[][]{{1, 3, 5}, {0, 2, 7}},
                "easyep", "per-layer 3", List.of(new ExpertMask.DomainRef("math", 1.0, 8, 900)));
        Path f = dir.resolve("mask.json");
        MaskFiles.write(mask, f);
        assertEquals(mask, MaskFiles.read(f));
        Path e = dir.resolve("easyep.json");
        MaskFiles.exportEasyEp(mask, e);
        assertTrue(Files.readString(e).replaceAll("\\s", "").startsWith("[[0.0,1.0,0.0,1.0,0.0,1.0,0.0,0.0],"));
        ExpertMask back = MaskFiles.importEasyEp(e, "fp123", "qwen3_moe", 8, 2, List.of(0, 2));
        assertArrayEquals(mask.kept(), back.kept());
    }

    @Test
    void invalidMasksNameTheFileAndTheProblem(@TempDir Path dir) throws Exception {
        String head = "{\"format\":\"moeprune-expert-mask\",\"version\":1,\"model\":{\"num_experts\":8,\"top_k\":2,"
                + "\"moe_layers\":[0]},\"layers\":{\"0\":";
        Map<String, String> cases = Map.of(
                "[1,1,3]}}", "listed twice",
                "[1,9]}}", "out of range",
                "[1]}}", "fewer than the 2");
        for (var c : cases.entrySet()) {
            Path f = dir.resolve("m" + c.getKey().hashCode() + ".json");
            Files.writeString(f, head + c.getKey());
            var ex = assertThrows(MoepruneException.class, () -> MaskFiles.read(f));
            assertTrue(ex.getMessage().startsWith(f.toString()) && ex.getMessage().contains(c.getValue()), ex.getMessage());
        }
        Path notJson = dir.resolve("bad.json");
        Files.writeString(notJson, "{oops");
        assertTrue(assertThrows(MoepruneException.class, () -> MaskFiles.read(notJson)).getMessage().contains("not valid JSON"));
    }
}
