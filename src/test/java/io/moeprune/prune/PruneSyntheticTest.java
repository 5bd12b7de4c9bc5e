package io.moeprune.prune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.inspect.TensorCheck;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.Quantization;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.safetensors.TensorInfo;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Checkpoints the fixtures do not cover, made from them: DeepSeek-V3 with an MTP layer, gpt-oss in MXFP4. */
class PruneSyntheticTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void deepseekMtpLayerIsDroppedAndTheConfigSaysSo() throws IOException {
        Path src = PruneFixtures.CONFORMANCE.resolve("deepseek_v3");
        Path model = tmp.resolve("ds3-mtp");
        Files.createDirectories(model);
        Files.copy(src.resolve("config.json"), model.resolve("config.json"));
        try (Checkpoint in = Checkpoint.open(src);
             SafetensorsWriter w = new SafetensorsWriter(model, 300_000, Map.of("format", "pt"))) {
            for (String n : in.names()) {
                w.copy(in, n);
                // The MTP layer (index num_hidden_layers = 3): a copy of the last decoder layer plus its own parts.
                if (n.startsWith("model.layers.2.")) w.copy(in, n, n.replace("model.layers.2.", "model.layers.3."));
            }
            w.copy(in, "model.norm.weight", "model.layers.3.enorm.weight");
            w.copy(in, "model.norm.weight", "model.layers.3.hnorm.weight");
            w.finish();
        }
        ModelSpec spec = ConfigReader.read(model);
        assertEquals(1, spec.mtpLayers());
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 11), tmp);
        PruneResult r = Pruner.prune(model, mask, tmp.resolve("out"), Pruner.Options.defaults());
        assertEquals(Map.of("n_routed_experts", 8, "num_nextn_predict_layers", 0), r.configChanges());
        try (Checkpoint out = Checkpoint.open(tmp.resolve("out"))) {
            assertTrue(out.names().stream().noneMatch(n -> n.startsWith("model.layers.3.")));
            assertTrue(TensorCheck.of(ConfigReader.read(tmp.resolve("out")), out).passes());
        }
        JsonNode cfg = JSON.readTree(tmp.resolve("out/config.json").toFile());
        assertEquals(0, cfg.get("num_nextn_predict_layers").asInt());
    }

    @Test
    void gptOssMxfp4BlocksAndScalesAreSlicedPerExpert() throws IOException {
        Path src = PruneFixtures.CONFORMANCE.resolve("gpt_oss");
        Path model = tmp.resolve("gpt-oss-mxfp4");
        Files.createDirectories(model);
        ObjectNode cfg = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        cfg.putObject("quantization_config").put("quant_method", "mxfp4")
                .putArray("modules_to_not_convert").add("model.layers.*.self_attn").add("model.layers.*.mlp.router")
                .add("model.embed_tokens").add("lm_head");
        Files.writeString(model.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(cfg));
        Random rnd = new Random(3);
        try (Checkpoint in = Checkpoint.open(src);
             SafetensorsWriter w = new SafetensorsWriter(model, 1L << 30, Map.of("format", "pt"))) {
            for (String n : in.names()) {
                TensorInfo t = in.info(n);
                if (n.endsWith("mlp.experts.gate_up_proj") || n.endsWith("mlp.experts.down_proj")) {
                    // [E, in, out] -> blocks [E, out, in/32, 16] and scales [E, out, in/32], random bytes.
                    long e = t.dim(0), inDim = t.dim(1), outDim = t.dim(2), groups = (inDim + 31) / 32;
                    w.add(n + "_blocks", DType.U8, new long[]{e, outDim, groups, 16}, randomBytes(rnd, e * outDim * groups * 16));
                    w.add(n + "_scales", DType.U8, new long[]{e, outDim, groups}, randomBytes(rnd, e * outDim * groups));
                } else {
                    w.copy(in, n);
                }
            }
            w.finish();
        }
        ModelSpec spec = ConfigReader.read(model);
        assertEquals(Quantization.Method.MXFP4, spec.quantization().method());
        ExpertMask m = PruneFixtures.halfMask(spec, 12);
        Path mask = PruneFixtures.writeMask(m, tmp);
        Pruner.prune(model, mask, tmp.resolve("out"), Pruner.Options.defaults());
        ModelSpec pruned = ConfigReader.read(tmp.resolve("out"));
        try (Checkpoint in = Checkpoint.open(model); Checkpoint out = Checkpoint.open(tmp.resolve("out"))) {
            TensorCheck check = TensorCheck.of(pruned, out);
            assertTrue(check.passes() && check.unexpected().isEmpty(), check::toString);
            for (int layer : spec.moeLayers()) {
                int[] kept = m.keptInLayer(layer);
                for (String n : new String[]{"gate_up_proj_blocks", "gate_up_proj_scales", "down_proj_blocks",
                        "down_proj_scales", "gate_up_proj_bias", "down_proj_bias"}) {
                    String name = "model.layers." + layer + ".mlp.experts." + n;
                    byte[] a = PruneConformanceTest.bytes(in, name), b = PruneConformanceTest.bytes(out, name);
                    int row = a.length / spec.moe().numExperts();
                    assertEquals(row * kept.length, b.length, name);
                    for (int j = 0; j < kept.length; j++) {
                        assertArrayEquals(Arrays.copyOfRange(a, kept[j] * row, (kept[j] + 1) * row),
                                Arrays.copyOfRange(b, j * row, (j + 1) * row), name + " expert " + kept[j]);
                    }
                }
            }
        }
        JsonNode outCfg = JSON.readTree(tmp.resolve("out/config.json").toFile());
        assertEquals(cfg.get("quantization_config"), outCfg.get("quantization_config"));
    }

    @Test
    void extraTensorsOfTheInputAreCopiedUnchanged() throws IOException {
        Path src = PruneFixtures.CONFORMANCE.resolve("olmoe");
        Path model = tmp.resolve("olmoe-extra");
        Files.createDirectories(model);
        Files.copy(src.resolve("config.json"), model.resolve("config.json"));
        try (Checkpoint in = Checkpoint.open(src);
             SafetensorsWriter w = new SafetensorsWriter(model, 1L << 30, Map.of("format", "pt"))) {
            for (String n : in.names()) w.copy(in, n);
            w.addFloats("model.custom_buffer", DType.F32, new long[]{3}, new float[]{1, 2, 3});
            w.finish();
        }
        ModelSpec spec = ConfigReader.read(model);
        Path mask = PruneFixtures.writeMask(PruneFixtures.halfMask(spec, 13), tmp);
        Pruner.prune(model, mask, tmp.resolve("out"), Pruner.Options.defaults());
        try (Checkpoint out = Checkpoint.open(tmp.resolve("out"))) {
            assertArrayEquals(new float[]{1, 2, 3}, out.tensor("model.custom_buffer").toFloatArray());
        }
    }

    private static ByteBuffer randomBytes(Random rnd, long n) {
        byte[] b = new byte[Math.toIntExact(n)];
        rnd.nextBytes(b);
        return ByteBuffer.wrap(b);
    }
}
