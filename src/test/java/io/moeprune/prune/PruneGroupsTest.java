package io.moeprune.prune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec.Groups;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The expert-group strategy (docs/pruning.md): keep n_group/topk_group, flatten to 1/1, or refuse. */
class PruneGroupsTest {
    @TempDir
    Path tmp;

    private PruneResult prune(String family, int[][] kept) {
        ModelSpec spec = PruneFixtures.spec(family);
        Path mask = PruneFixtures.writeMask(PruneFixtures.mask(spec, kept), tmp);
        return Pruner.prune(PruneFixtures.CONFORMANCE.resolve(family), mask, tmp.resolve("out"), Pruner.Options.defaults());
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek_v3", "deepseek_v3_fp8"})
    void keptExpertsInAtMostTopkGroupsFlattenTheGroups(String family) throws IOException {
        // 16 experts in 4 groups of 4, topk_group 2: layer 1 keeps groups 0+1, layer 2 groups 1+3 (uneven counts).
        PruneResult r = prune(family, new int[][]{{0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 6, 12, 13, 14, 15, 7}});
        JsonNode cfg = new ObjectMapper().readTree(tmp.resolve("out/config.json").toFile());
        assertEquals(8, cfg.get("n_routed_experts").asInt());
        assertEquals(1, cfg.get("n_group").asInt());
        assertEquals(1, cfg.get("topk_group").asInt());
        assertEquals(java.util.Map.of("n_routed_experts", 8, "n_group", 1, "topk_group", 1), r.configChanges());
        assertEquals(Groups.NONE, ConfigReader.read(tmp.resolve("out")).moe().groups());
    }

    @Test
    void equalCountsPerGroupKeepTheGroups() throws IOException {
        PruneResult r = prune("deepseek_v3", new int[][]{{0, 3, 5, 6, 8, 11, 13, 15}, {1, 2, 4, 7, 9, 10, 12, 14}});
        assertEquals(java.util.Map.of("n_routed_experts", 8), r.configChanges());
        Groups g = ConfigReader.read(tmp.resolve("out")).moe().groups();
        assertEquals(4, g.nGroup());
        assertEquals(2, g.topkGroup());
    }

    @Test
    void unevenGroupsSpreadOverMoreThanTopkGroupAreRefused() {
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> prune("deepseek_v3", new int[][]{{0, 1, 2, 3, 4, 5, 8, 12}, {0, 3, 5, 6, 8, 11, 13, 15}}));
        assertTrue(e.getMessage().contains("layer 1 keeps [4, 2, 1, 1] experts in its 4 expert groups"), e.getMessage());
        assertTrue(e.getMessage().contains("--strategy nogroup"), e.getMessage());
    }

    @Test
    void oneExpertPerGroupCannotKeepTheTop2GroupScore() {
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> prune("deepseek_v3", new int[][]{{0, 4, 8, 12}, {1, 5, 9, 13}}));
        assertTrue(e.getMessage().contains("needs at least 2 per group"), e.getMessage());
    }

    @Test
    void deepseekV2MaxGroupScoreAllowsOnePerGroup() {
        // 8 experts, 4 groups of 2, topk_group 2, top-2: one expert per group keeps the groups.
        PruneResult r = prune("deepseek_v2", new int[][]{{0, 3, 5, 6}, {1, 2, 4, 7}});
        assertEquals(java.util.Map.of("n_routed_experts", 4), r.configChanges());
        assertThrows(MoepruneException.class, () -> prune("deepseek_v2", new int[][]{{0, 1, 2, 4}, {0, 1, 2, 4}}));
    }

    /**
     * The equivalence the strategy rests on, checked numerically: DeepSeek-V3 routing (sigmoid scores, selection
     * bias, top-2-sum group scores) over the full model with dropped experts excluded equals the routing of the
     * pruned model with the rewritten groups, for random logits and biases.
     */
    @Test
    void maskModeRoutingEqualsPrunedRouting() {
        Random rnd = new Random(7);
        int e = 16, nGroup = 4, topkGroup = 2, topK = 4;
        int[][] masks = {{0, 3, 5, 6, 8, 11, 13, 15}, {4, 5, 6, 7, 12, 13, 14, 15}, {0, 1, 2, 3, 8, 9, 10, 11}};
        for (int[] kept : masks) {
            int[] counts = GroupRewrite.countsPerGroup(kept, e / nGroup, nGroup);
            boolean equal = Arrays.stream(counts).distinct().count() == 1;
            int pg = equal ? nGroup : 1, pk = equal ? topkGroup : 1;
            for (int t = 0; t < 2000; t++) {
                float[] scores = new float[e], bias = new float[e];
                for (int i = 0; i < e; i++) {
                    scores[i] = (float) (1 / (1 + Math.exp(-rnd.nextGaussian() * 2)));
                    bias[i] = (float) rnd.nextGaussian() * 0.3f;
                }
                boolean[] allowed = new boolean[e];
                for (int x : kept) allowed[x] = true;
                int[] full = route(scores, bias, allowed, nGroup, topkGroup, topK);
                float[] ps = new float[kept.length], pb = new float[kept.length];
                for (int j = 0; j < kept.length; j++) {
                    ps[j] = scores[kept[j]];
                    pb[j] = bias[kept[j]];
                }
                boolean[] all = new boolean[kept.length];
                Arrays.fill(all, true);
                int[] pruned = route(ps, pb, all, pg, pk, topK);
                int[] mapped = Arrays.stream(pruned).map(j -> kept[j]).sorted().toArray();
                assertArrayEquals(Arrays.stream(full).sorted().toArray(), mapped, "kept " + Arrays.toString(kept));
            }
        }
    }

    /** noaux_tc selection; experts not allowed (or outside the chosen groups) never compete. */
    private static int[] route(float[] scores, float[] bias, boolean[] allowed, int nGroup, int topkGroup, int topK) {
        int e = scores.length, per = e / nGroup;
        double[] choice = new double[e];
        for (int i = 0; i < e; i++) choice[i] = allowed[i] ? scores[i] + bias[i] : Double.NEGATIVE_INFINITY;
        double[] groupScore = new double[nGroup];
        for (int g = 0; g < nGroup; g++) {
            double[] m = Arrays.copyOfRange(choice, g * per, (g + 1) * per);
            Arrays.sort(m);
            groupScore[g] = per == 1 ? m[0] : m[per - 1] + m[per - 2];
        }
        boolean[] chosen = new boolean[nGroup];
        for (int n = 0; n < topkGroup; n++) {
            int best = -1;
            for (int g = 0; g < nGroup; g++) if (!chosen[g] && (best < 0 || groupScore[g] > groupScore[best])) best = g;
            chosen[best] = true;
        }
        for (int i = 0; i < e; i++) if (!chosen[i / per]) choice[i] = Double.NEGATIVE_INFINITY;
        int[] out = new int[topK];
        boolean[] taken = new boolean[e];
        for (int n = 0; n < topK; n++) {
            int best = -1;
            for (int i = 0; i < e; i++) if (!taken[i] && (best < 0 || choice[i] > choice[best])) best = i;
            taken[best] = true;
            out[n] = best;
        }
        return out;
    }
}
