package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Perplexity;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every group strategy (docs/pruning.md, "Expert groups"): the pruned checkpoint's loss equals the full model's in
 * mask mode to 1e-6 (nogroup, balanced), or prune refuses (easyep-mul); on the conformance families with expert
 * groups and on the trained moe-tiny-7d-ds3 (4 groups, top-2 groups; skipped without ../shared).
 */
class PruneStrategyTest {
    private static final Path DS3 = Path.of("../shared/models/moe-tiny-7d-ds3");

    @TempDir
    Path tmp;

    /** Top-K by a seeded random score, ignoring groups: what select writes for nogroup (uneven over the groups). */
    private static ExpertMask scoreOrderMask(ModelSpec spec, long seed) {
        int e = spec.moe().numExperts();
        Random rnd = new Random(seed);
        int[][] kept = new int[spec.moeLayers().size()][];
        for (int l = 0; l < kept.length; l++) {
            List<Integer> ids = new ArrayList<>();
            for (int x = 0; x < e; x++) ids.add(x);
            Collections.shuffle(ids, rnd);
            kept[l] = ids.subList(0, e / 2).stream().mapToInt(Integer::intValue).sorted().toArray();
        }
        // Layer 0 always uneven: the first half of the experts, i.e. only the first groups.
        for (int x = 0; x < e / 2; x++) kept[0][x] = x;
        return PruneFixtures.mask(spec, kept).withStrategy(GroupStrategy.NOGROUP);
    }

    private PruneResult pruneVerified(Path model, ExpertMask mask) {
        Path file = PruneFixtures.writeMask(mask, tmp);
        PruneResult r = Pruner.prune(model, file, tmp.resolve("out"),
                Pruner.Options.defaults().withVerification(new RuntimeVerification(2, 16)));
        assertTrue(r.verified().maxRelDiff() <= 1e-6, "logits differ by " + r.verified().maxRelDiff());
        return r;
    }

    /** Summed next-token loss (nats) of the masked full model and of the pruned checkpoint on the same documents. */
    private double[] losses(Path model, ExpertMask mask) {
        ModelSpec spec = ConfigReader.read(model);
        Map<Integer, int[]> byLayer = new TreeMap<>();
        for (int i = 0; i < mask.kept().length; i++) byLayer.put(mask.moeLayers().get(i), mask.kept()[i]);
        var runtimeMask = io.moeprune.runtime.ExpertMask.of(byLayer, spec.moe().numExperts(), mask.routing());
        SplittableRandom rnd = new SplittableRandom(18);
        double[] nll = new double[2];
        try (Model full = Model.load(model, spec); Model pruned = Model.load(tmp.resolve("out"),
                ConfigReader.read(tmp.resolve("out")))) {
            Perplexity masked = new Perplexity(full, runtimeMask), small = new Perplexity(pruned, null);
            for (int d = 0; d < 3; d++) {
                int[] ids = new int[40];
                for (int t = 0; t < ids.length; t++) ids[t] = rnd.nextInt(spec.vocabSize());
                nll[0] += masked.score(ids).nll();
                nll[1] += small.score(ids).nll();
            }
        }
        return nll;
    }

    private void assertSameLoss(Path model, ExpertMask mask) {
        double[] nll = losses(model, mask);
        assertEquals(nll[0], nll[1], 1e-6 * Math.abs(nll[0]), "mask mode " + nll[0] + " vs pruned " + nll[1]);
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek_v2", "deepseek_v3", "deepseek_v3_fp8"})
    void nogroupPrunesToOneGroupWithMaskModeLoss(String family) {
        Path model = PruneFixtures.CONFORMANCE.resolve(family);
        ModelSpec spec = PruneFixtures.spec(family);
        ExpertMask mask = scoreOrderMask(spec, 31);
        PruneResult r = pruneVerified(model, mask);
        assertEquals(Map.of(spec.expertCountKey(), spec.moe().numExperts() / 2, "n_group", 1, "topk_group", 1),
                r.configChanges());
        assertFalse(ConfigReader.read(tmp.resolve("out")).moe().groups().enabled());
        assertSameLoss(model, mask);
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek_v2", "deepseek_v3", "deepseek_v3_fp8"})
    void balancedKeepsTheGroupsWithMaskModeLoss(String family) {
        Path model = PruneFixtures.CONFORMANCE.resolve(family);
        ModelSpec spec = PruneFixtures.spec(family);
        ExpertMask mask = PruneFixtures.halfMask(spec, 32).withStrategy(GroupStrategy.BALANCED);
        PruneResult r = pruneVerified(model, mask);
        assertEquals(Map.of(spec.expertCountKey(), spec.moe().numExperts() / 2), r.configChanges());
        assertEquals(spec.moe().groups(), ConfigReader.read(tmp.resolve("out")).moe().groups());
        assertSameLoss(model, mask);
    }

    @ParameterizedTest
    @ValueSource(strings = {"deepseek_v2", "deepseek_v3", "deepseek_v3_fp8"})
    void easyepMulIsRefusedInOneLine(String family) {
        ModelSpec spec = PruneFixtures.spec(family);
        Path file = PruneFixtures.writeMask(scoreOrderMask(spec, 33).withStrategy(GroupStrategy.EASYEP_MUL), tmp);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Pruner.prune(
                PruneFixtures.CONFORMANCE.resolve(family), file, tmp.resolve("out"), Pruner.Options.defaults()));
        assertEquals(MoepruneException.BAD_INPUT, e.exitCode());
        assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains("easyep-mul")
                && e.getMessage().contains("--strategy nogroup or balanced") && !e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    @Test
    void balancedWithUnequalGroupsIsRefusedNamingTheLayer() {
        ModelSpec spec = PruneFixtures.spec("deepseek_v3");
        ExpertMask mask = scoreOrderMask(spec, 34).withStrategy(GroupStrategy.BALANCED);
        Path file = PruneFixtures.writeMask(mask, tmp);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Pruner.prune(
                PruneFixtures.CONFORMANCE.resolve("deepseek_v3"), file, tmp.resolve("out"), Pruner.Options.defaults()));
        assertTrue(e.getMessage().contains("layer 1 keeps [4, 4, 0, 0] experts in its 4 expert groups; strategy balanced"),
                e.getMessage());
    }

    @Test
    void balancedWithTooFewCandidatesSaysWhatIsWrong() {
        // deepseek_v2: 8 experts in 4 groups of 2, topk_group 2, top-2: 1 per group gives 2 candidates (fine);
        // the top-2 sum of deepseek_v3 needs 2 per group.
        ModelSpec spec = PruneFixtures.spec("deepseek_v3");
        ExpertMask mask = PruneFixtures.mask(spec, new int[][]{{0, 4, 8, 12}, {1, 5, 9, 13}}).withStrategy(GroupStrategy.BALANCED);
        Path file = PruneFixtures.writeMask(mask, tmp);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Pruner.prune(
                PruneFixtures.CONFORMANCE.resolve("deepseek_v3"), file, tmp.resolve("out"), Pruner.Options.defaults()));
        assertTrue(e.getMessage().contains("needs at least 2 per group"), e.getMessage());
    }

    @Test
    void withoutGroupsTheStrategyChangesNothing() {
        Path model = PruneFixtures.CONFORMANCE.resolve("qwen3_moe");
        ModelSpec spec = PruneFixtures.spec("qwen3_moe");
        for (GroupStrategy s : GroupStrategy.values()) {
            ExpertMask mask = PruneFixtures.halfMask(spec, 35).withStrategy(s);
            Path file = PruneFixtures.writeMask(mask, tmp);
            PruneResult r = Pruner.prune(model, file, tmp.resolve("out"), Pruner.Options.defaults().withForce(true));
            assertEquals(Map.of(spec.expertCountKey(), spec.moe().numExperts() / 2), r.configChanges(), s.cliName());
            assertSameLoss(model, mask);
        }
    }

    @Test
    void sharedDeepseekV3TinyNogroupAndBalancedMatchMaskModeAndEasyepMulIsRefused() {
        Assumptions.assumeTrue(Files.isDirectory(DS3), "shared test bed absent (../shared/models/moe-tiny-7d-ds3)");
        ModelSpec spec = ConfigReader.read(DS3);
        ExpertMask nogroup = scoreOrderMask(spec, 36);
        PruneResult r = pruneVerified(DS3, nogroup);
        assertEquals(1, r.configChanges().get("n_group"));
        assertSameLoss(DS3, nogroup);

        ExpertMask balanced = PruneFixtures.halfMask(spec, 37).withStrategy(GroupStrategy.BALANCED);
        Path file = PruneFixtures.writeMask(balanced, tmp);
        r = Pruner.prune(DS3, file, tmp.resolve("out"), Pruner.Options.defaults().withForce(true)
                .withVerification(new RuntimeVerification(2, 16)));
        assertTrue(r.verified().maxRelDiff() <= 1e-6);
        assertFalse(r.configChanges().containsKey("n_group"));
        assertSameLoss(DS3, balanced);

        Path mul = PruneFixtures.writeMask(nogroup.withStrategy(GroupStrategy.EASYEP_MUL), tmp);
        assertThrows(MoepruneException.class, () -> Pruner.prune(DS3, mul, tmp.resolve("out2"), Pruner.Options.defaults()));
    }
}
