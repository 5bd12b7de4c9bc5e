package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Runtime equivalence: the pruned checkpoint's logits equal the full model's in mask mode (families the runtime runs). */
class PruneVerifyTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "deepseek_v2", "deepseek_v3",
            "deepseek_v3_fp8", "granitemoe", "gpt_oss", "gpt_oss_mxfp4"})
    void prunedLogitsEqualMaskMode(String family) {
        ModelSpec spec = PruneFixtures.spec(family);
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 99), tmp);
        PruneResult r = Pruner.prune(PruneFixtures.CONFORMANCE.resolve(family), mask, tmp.resolve("out"),
                Pruner.Options.defaults().withVerification(new RuntimeVerification(2, 12)));
        assertNotNull(r.verified());
        assertEquals(2, r.verified().prompts());
        assertTrue(r.verified().maxRelDiff() <= 1e-6, "relative difference " + r.verified().maxRelDiff());
    }

    @Test
    void aPrunedModelThatDoesNotMatchTheMaskFailsVerification() throws IOException {
        ModelSpec spec = PruneFixtures.spec("qwen3_moe");
        Path model = PruneFixtures.CONFORMANCE.resolve("qwen3_moe");
        ExpertMask used = PruneFixtures.mask(spec, new int[][]{{0, 1, 2, 3}, {0, 1, 2, 3}});
        ExpertMask other = PruneFixtures.mask(spec, new int[][]{{4, 5, 6, 7}, {0, 1, 2, 3}});
        Pruner.prune(model, used, tmp.resolve("m.json"), tmp.resolve("out"), Pruner.Options.defaults());
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> RuntimeVerification.defaults().verify(model, tmp.resolve("out"), other));
        assertEquals(MoepruneException.FAILED, e.exitCode());
        assertTrue(e.getMessage().contains("differ from the masked full model"), e.getMessage());
    }
}
