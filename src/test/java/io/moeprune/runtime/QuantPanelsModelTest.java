package io.moeprune.runtime;

import io.moeprune.kernels.KernelSwitches;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MXFP4 fixture through BF16 panels on the (Java model of the) AMX tiles, against the same prompt with the panels
 * off (rows decoded to F32): MXFP4 weights are exact in BF16, so the logits agree to float rounding (the conformance
 * tolerance is 1e-3). The FP8 fixture (deepseek_v3_fp8) cannot be checked this way: its stored scales are 1e-38 to
 * 1e-12 (ConformanceReadTest), so every FP8 product is all but zero; QuantPanelsTest bounds the FP8 panels per product.
 */
class QuantPanelsModelTest {
    @AfterEach
    void restore() {
        System.clearProperty("moeprune.amx");
        KernelSwitches.quantPanels(true);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"gpt_oss_mxfp4, 1e-5"})
    void panelsStayWithinTolerance(String fixture, double tolerance) throws Exception {
        System.setProperty("moeprune.amx", "emulate");
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        try (Model model = Models.open(dir)) {
            int[] ids = new Random(4).ints(40, 1, model.spec().vocabSize()).toArray();
            KernelSwitches.quantPanels(false);
            float[] f32 = model.forward(ids, model.newState(), true).clone();   // forward may reuse its array
            KernelSwitches.quantPanels(true);
            float[] panels = model.forward(ids, model.newState(), true);
            double err = ConformanceTest.relativeError(panels, 0, f32, 0, f32.length);
            System.out.printf("QuantPanelsModelTest: %s logits relative error, panels against F32: %.3g%n", fixture, err);
            assertTrue(err > 0, "the panels were not used");
            assertTrue(err < tolerance, fixture + " relative error " + err);
        }
    }
}
