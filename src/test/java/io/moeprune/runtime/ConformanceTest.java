package io.moeprune.runtime;

import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime against transformers' own outputs on the tiny random-weight fixtures: full-sequence logits,
 * per-layer expert choices and weights, a 32-token greedy continuation and 8 KV-cache decode steps; with the
 * scalar and the default (vector when available) kernels, and with BF16 batches on the Java model of the AMX tiles.
 */
class ConformanceTest {
    static final Path FIXTURES = Path.of("src/test/resources/conformance");

    static Stream<Arguments> cases() {
        return Stream.of("qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "granitemoe", "gpt_oss", "gpt_oss_mxfp4", "deepseek_v2", "deepseek_v3")
                .flatMap(f -> Stream.of(Arguments.of(f, "scalar"), Arguments.of(f, "auto"), Arguments.of(f, "amx-emulated")));
    }

    @AfterEach
    void restoreKernels() {
        System.clearProperty("moeprune.kernels");
        System.clearProperty("moeprune.amx");
    }

    @ParameterizedTest(name = "{0} with {1} kernels")
    @MethodSource("cases")
    void matchesTransformers(String fixture, String kernels) {
        // amx-emulated: BF16 batches through the AMX path (packing, tile dispatch) on the Java model of the tiles.
        System.setProperty("moeprune.kernels", kernels.equals("amx-emulated") ? "auto" : kernels);
        if (kernels.equals("amx-emulated")) System.setProperty("moeprune.amx", "emulate");
        Path dir = FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        try (Model model = Model.load(dir, spec);
             SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
            int vocab = spec.vocabSize(), k = spec.moe().topK();
            for (int p = 0; p < 2; p++) {
                int[] ids = ints(ref, "prompt" + p + ".ids");
                Map<Integer, int[]> chosen = new HashMap<>();
                Map<Integer, float[]> weights = new HashMap<>();
                InferenceState state = model.newState().withObserver(t -> {
                    chosen.put(t.layer(), t.chosen().clone());
                    weights.put(t.layer(), t.weights().clone());
                });
                float[] logits = model.forward(ids, state, true);
                float[] expected = ref.tensor("prompt" + p + ".logits").toFloatArray();
                assertEquals(expected.length, logits.length);
                double err = relativeError(logits, 0, expected, 0, expected.length);
                assertTrue(err < 1e-3, fixture + " prompt" + p + " logits relative error " + err);
                assertEquals(spec.moeLayers().size(), chosen.size());
                for (int layer : spec.moeLayers()) {
                    String name = "prompt" + p + ".layer" + layer;
                    int[] refIds = ints(ref, name + ".topk_ids");
                    float[] refW = ref.tensor(name + ".topk_weights").toFloatArray();
                    for (int t = 0; t < ids.length; t++) {
                        float[] mine = byExpert(chosen.get(layer), weights.get(layer), t, k, spec.moe().numExperts());
                        float[] theirs = byExpert(refIds, refW, t, k, spec.moe().numExperts());
                        for (int e = 0; e < mine.length; e++) {
                            assertEquals(Float.isNaN(theirs[e]), Float.isNaN(mine[e]),
                                    name + " token " + t + " expert " + e + " chosen differently");
                            // 1e-4 relative to weights above 1 (DeepSeek's routed_scaling_factor scales them).
                            if (!Float.isNaN(mine[e])) {
                                assertEquals(theirs[e], mine[e], 1e-4 * Math.max(1, Math.abs(theirs[e])),
                                        name + " token " + t + " weight");
                            }
                        }
                    }
                }
            }

            // Greedy continuation through the KV-cache decode path.
            int[] greedy = ints(ref, "greedy.ids");
            InferenceState state = model.newState();
            float[] logits = model.forward(ints(ref, "prompt0.ids"), state, false);
            int[] mine = new int[greedy.length];
            for (int i = 0; i < greedy.length; i++) {
                mine[i] = argmax(logits, 0, vocab);
                logits = model.decode(mine[i], state);
            }
            assertArrayEquals(greedy, mine, fixture + " greedy continuation");

            // Eight cached decode steps after prompt1.
            int[] steps = ints(ref, "decode.ids");
            float[] stepLogits = ref.tensor("decode.logits").toFloatArray();
            state = model.newState();
            logits = model.forward(ints(ref, "prompt1.ids"), state, false);
            for (int i = 0; i < steps.length; i++) {
                assertEquals(steps[i], argmax(logits, 0, vocab), fixture + " decode step " + i + " token");
                logits = model.decode(steps[i], state);
                double err = relativeError(logits, 0, stepLogits, i * vocab, vocab);
                assertTrue(err < 1e-3, fixture + " decode step " + i + " relative error " + err);
            }
        }
    }

    /** Weight per expert for token t (NaN where not chosen). */
    static float[] byExpert(int[] ids, float[] w, int t, int k, int numExperts) {
        float[] out = new float[numExperts];
        Arrays.fill(out, Float.NaN);
        for (int s = 0; s < k; s++) out[ids[t * k + s]] = w[t * k + s];
        return out;
    }

    static int[] ints(SafetensorsFile f, String name) {
        return Arrays.stream(f.tensor(name).toLongArray()).mapToInt(Math::toIntExact).toArray();
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    static double relativeError(float[] a, int aOff, float[] b, int bOff, int n) {
        double d = 0, r = 0;
        for (int i = 0; i < n; i++) {
            double x = a[aOff + i] - b[bOff + i];
            d += x * x;
            r += (double) b[bOff + i] * b[bOff + i];
        }
        return Math.sqrt(d / r);
    }

    /** The fixtures the batched paths (prefill, decode) are checked on against each sequence alone. */
    static java.util.stream.Stream<String> batchingFixtures() {
        return java.util.stream.Stream.of("qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral", "granitemoe",
                "gpt_oss", "gpt_oss_mxfp4", "deepseek_v2", "deepseek_v3");
    }

    /** Three prompts of different lengths from a fixture's reference: its two prompts and half of the first. */
    static java.util.List<int[]> batchPrompts(SafetensorsFile ref) {
        int[] p0 = ints(ref, "prompt0.ids"), p1 = ints(ref, "prompt1.ids");
        return java.util.List.of(p0, p1, java.util.Arrays.copyOf(p0, Math.max(1, p0.length / 2)));
    }
}
