package io.moeprune.prune;

import io.moeprune.inspect.TensorCheck;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The trained test-bed models (../shared): a real tokenizer and chat template travel along; verify on a trained model. */
class PruneSharedModelTest {
    private static final Path MODELS = Path.of("../shared/models");

    @TempDir
    Path tmp;

    @Test
    void qwen3TinyPrunedToHalfVerifies() throws IOException {
        Path model = MODELS.resolve("moe-tiny-7d");
        Assumptions.assumeTrue(Files.isDirectory(model), "shared test bed absent");
        ModelSpec spec = ConfigReader.read(model);
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 5), tmp);
        Map<String, String> before = PruneFixtures.hashes(model);
        PruneResult r = Pruner.prune(model, mask, tmp.resolve("out"),
                Pruner.Options.defaults().withVerification(new RuntimeVerification(2, 16)));
        assertEquals(16, r.keptPerLayer());
        assertEquals(0.0, r.verified().maxRelDiff(), 1e-6);
        for (String f : new String[]{"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                "generation_config.json"}) {
            assertEquals(PruneFixtures.sha256(model.resolve(f)), PruneFixtures.sha256(tmp.resolve("out").resolve(f)), f);
        }
        // The card gains a provenance section at the top (the source has no front matter: one naming it is added);
        // the source's card follows unchanged.
        String card = Files.readString(tmp.resolve("out").resolve("README.md"));
        assertTrue(card.startsWith("---\nbase_model: moe-tiny-7d\n---\n"), card);
        assertTrue(card.endsWith("follows unchanged.\n\n" + Files.readString(model.resolve("README.md"))));
        assertEquals(before, PruneFixtures.hashes(model));
    }

    @Test
    void deepseekV3TinyWithPerGroupMaskKeepsItsGroupsAndVerifies() throws IOException {
        Path model = MODELS.resolve("moe-tiny-7d-ds3");
        Assumptions.assumeTrue(Files.isDirectory(model), "shared test bed absent");
        ModelSpec spec = ConfigReader.read(model);
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 6), tmp);
        PruneResult r = Pruner.prune(model, mask, tmp.resolve("out"),
                Pruner.Options.defaults().withVerification(new RuntimeVerification(2, 16)));
        assertTrue(r.verified().maxRelDiff() <= 1e-6, "relative difference " + r.verified().maxRelDiff());
        assertEquals(Map.of("n_routed_experts", spec.moe().numExperts() / 2), r.configChanges());
        ModelSpec pruned = ConfigReader.read(tmp.resolve("out"));
        assertEquals(spec.moe().groups(), pruned.moe().groups());
        try (Checkpoint out = Checkpoint.open(tmp.resolve("out"))) {
            TensorCheck check = TensorCheck.of(pruned, out);
            assertTrue(check.passes() && check.unexpected().isEmpty());
        }
    }
}
