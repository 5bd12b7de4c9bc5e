package io.moeprune.runtime;

import io.moeprune.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long MLA prefills attend in the expanded form (per-head keys and values from kv_b_proj, as transformers computes),
 * short ones and decode in the absorbed form over the latent cache. Forced on every batch here: the logits match
 * transformers' within the conformance tolerance (1e-3) and the absorbed form's to float rounding.
 */
class MlaExpandedPrefillTest {
    @AfterEach
    void restore() {
        MlaAttention.expandedMinRows(128);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"deepseek_v2", "deepseek_v3"})
    void expandedPrefillMatchesTransformersAndTheAbsorbedForm(String fixture) throws Exception {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        try (Model model = Model.load(dir, TestModels.spec(dir));
             SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
            int[] ids = ConformanceTest.ints(ref, "prompt0.ids");
            float[] expected = ref.tensor("prompt0.logits").toFloatArray();
            MlaAttention.expandedMinRows(Integer.MAX_VALUE);
            float[] absorbed = model.forward(ids, model.newState(), true).clone();
            MlaAttention.expandedMinRows(2);
            float[] expanded = model.forward(ids, model.newState(), true);
            double vsReference = ConformanceTest.relativeError(expanded, 0, expected, 0, expected.length);
            double vsAbsorbed = ConformanceTest.relativeError(expanded, 0, absorbed, 0, absorbed.length);
            System.out.printf("MlaExpandedPrefillTest: %s expanded against transformers %.2g, against absorbed %.2g%n",
                    fixture, vsReference, vsAbsorbed);
            assertTrue(vsReference < 1e-3, fixture + " against transformers " + vsReference);
            // The two forms run different products; on the AMX tiles (hi+lo inputs) each carries ~2.5e-6 of its own.
            double limit = io.moeprune.kernels.Kernels.batchesOnTiles() ? 1e-4 : 1e-5;
            assertTrue(vsAbsorbed > 0 && vsAbsorbed < limit, fixture + " against the absorbed form " + vsAbsorbed);
        }
    }
}
