package io.moeprune.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An expert mask must route exactly as a checkpoint that physically lacks the masked experts: the test writes
 * such a checkpoint (router rows and expert tensors of the kept experts, renumbered; config expert count
 * rewritten) and compares its logits with the masked model's.
 */
class MaskMatchesPrunedCheckpointTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe_f32", "qwen3_moe", "qwen2_moe", "olmoe", "mixtral"})
    void maskedLogitsEqualPrunedLogits(String fixture, @TempDir Path out) throws Exception {
        compare(fixture, out);
    }

    /** The same through the AMX path (BF16 batches on the Java model of the tiles): mask and pruning agree there too. */
    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "olmoe"})
    void maskedLogitsEqualPrunedLogitsOnAmxTiles(String fixture, @TempDir Path out) throws Exception {
        System.setProperty("moeprune.amx", "emulate");
        try {
            compare(fixture, out);
        } finally {
            System.clearProperty("moeprune.amx");
        }
    }

    private static void compare(String fixture, Path out) throws Exception {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        int experts = spec.moe().numExperts();
        int keep = spec.moe().topK() + 2;
        Map<Integer, int[]> kept = new HashMap<>();
        for (int layer : spec.moeLayers()) {
            int[] ids = new int[keep];
            for (int i = 0; i < keep; i++) ids[i] = (layer * 3 + i * 5) % experts;   // distinct: 5 is coprime to 8
            java.util.Arrays.sort(ids);
            kept.put(layer, ids);
        }
        writePruned(dir, spec, kept, keep, out);

        int[] prompt = {193, 124, 136, 57, 80, 148, 149, 133, 29, 141, 216, 168, 75, 20, 47};
        float[] masked, pruned;
        try (Model model = Model.load(dir, spec)) {
            masked = model.forward(prompt, model.newState().withMask(ExpertMask.of(kept, experts)), true);
        }
        try (Model model = Models.open(out)) {
            pruned = model.forward(prompt, model.newState(), true);
        }
        double err = ConformanceTest.relativeError(masked, 0, pruned, 0, pruned.length);
        assertTrue(err < 1e-6, fixture + ": masked vs pruned relative error " + err);
    }

    private static void writePruned(Path dir, ModelSpec spec, Map<Integer, int[]> kept, int keep, Path out) throws Exception {
        TensorNames n = spec.names();
        try (Checkpoint src = Checkpoint.open(dir); SafetensorsWriter w = SafetensorsWriter.create(out)) {
            Set<String> handled = new HashSet<>();
            for (var e : kept.entrySet()) {
                int layer = e.getKey();
                String router = TensorNames.format(n.routerWeight(), layer);
                w.copyDim0(src, router, router, e.getValue());
                handled.add(router);
                for (int old = 0; old < spec.moe().numExperts(); old++) {
                    for (String t : new String[]{n.expertGate(), n.expertUp(), n.expertDown()}) {
                        handled.add(TensorNames.format(t, layer, old));
                    }
                }
                for (int j = 0; j < e.getValue().length; j++) {
                    for (String t : new String[]{n.expertGate(), n.expertUp(), n.expertDown()}) {
                        w.copy(src, TensorNames.format(t, layer, e.getValue()[j]), TensorNames.format(t, layer, j));
                    }
                }
            }
            for (String name : src.names()) if (!handled.contains(name)) w.copy(src, name);
            w.finish();
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
        config.put(spec.expertCountKey(), keep);
        Files.writeString(out.resolve("config.json"), json.writeValueAsString(config));
    }
}
