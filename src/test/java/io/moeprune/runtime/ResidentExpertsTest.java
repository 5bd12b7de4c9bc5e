package io.moeprune.runtime;

import io.moeprune.model.ModelSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Experts read from resident copies ({@link ResidentExperts}) on every conformance family and stored form (BF16, F32,
 * FP8 with block scales, gpt-oss input-major and MXFP4, GraniteMoE's fused slices): the logits of a prompt with half of
 * each layer's experts kept equal those of the mapped model with the same mask bit for bit, and evicting an expert
 * makes routing to it an error.
 */
class ResidentExpertsTest {
    @ParameterizedTest
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void copiesRunExactlyAsTheMappedExperts(String fixture) {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec); Model mapped = Model.load(dir, spec)) {
            int[] prompt = {1, 5, 9, 2, 7, 3, 11, 4};
            int experts = spec.moe().numExperts();
            Map<Integer, int[]> kept = new TreeMap<>();
            for (int l : spec.moeLayers()) {
                int[] ids = new int[Math.max(spec.moe().topK(), experts / 2)];
                for (int i = 0; i < ids.length; i++) ids[i] = (l + 2 * i) % experts;
                kept.put(l, java.util.stream.IntStream.of(ids).distinct().toArray());
            }
            ExpertMask mask = ExpertMask.of(kept, experts);
            float[] want = mapped.forward(prompt, mapped.newState().withMask(mask), true);

            SortedMap<Integer, ResidentExperts> resident = model.residentExperts(spec.moeLayers());
            long bytes = 0;
            for (var e : resident.entrySet()) bytes += e.getValue().bringIn(kept.get(e.getKey()));
            assertTrue(bytes > 0);
            assertArrayEquals(want, model.forward(prompt, model.newState().withMask(mask), true), fixture);

            int layer = spec.moeLayers().getFirst();
            assertEquals(resident.get(layer).residentBytes(kept.get(layer)[0]),
                    resident.get(layer).evict(new int[]{kept.get(layer)[0]}));
            var e = assertThrows(IllegalStateException.class, () -> model.forward(prompt, model.newState(), false));
            assertTrue(e.getMessage().contains("is not resident"), e.getMessage());

            model.mappedExperts();
            assertArrayEquals(mapped.forward(prompt, mapped.newState(), true), model.forward(prompt, model.newState(), true));
        }
    }

    /**
     * Resident copies and the mapped weights are segments of one class, so that the kernels' Vector API loads stay
     * monomorphic in a process that reads both: with two classes C2 boxed the one-row BF16 kernel's vectors and
     * pattern-served decode ran 3x slower (SafetensorsFile's tensor memory). The mapped source's pages are still
     * recognised as the checkpoint's (given back after the copy), the copy's are not.
     */
    @Test
    void copiesAreSegmentsOfTheMappedWeightsClass() {
        Path dir = ConformanceTest.FIXTURES.resolve("qwen3_moe");
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec)) {
            int layer = spec.moeLayers().getFirst();
            ResidentExperts resident = model.residentExperts(java.util.List.of(layer)).get(layer);
            java.lang.foreign.MemorySegment mapped = resident.mapped().expertMemory(0).getFirst();
            resident.bringIn(new int[]{0});
            java.lang.foreign.MemorySegment copy = resident.expertMemory(0).getFirst();
            assertEquals(mapped.getClass(), copy.getClass());
            assertEquals(model.lmHead().weights().data().getClass(), copy.getClass());
            assertTrue(model.checkpointMaps(mapped));
            assertTrue(!model.checkpointMaps(copy));
            model.mappedExperts();
        }
    }
}
