package io.moeprune.calibrate;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.Model;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A synthetic MoE built so that a known set of experts carries a known input distribution: the "domain" tokens'
 * embeddings point along a direction u, and in every MoE layer only the routers of experts {1, 4, 6} align with u.
 * Calibrating on domain text and selecting with easyep must recover exactly that set; text made of the other
 * tokens (direction v, experts {0, 3, 7}) must recover the other set.
 */
class SyntheticRecoveryTest {
    static final Path BASE = Path.of("src/test/resources/conformance/qwen3_moe_f32");
    static final int H = 64, E = 8, VOCAB = 256;
    static final int[] DOMAIN_A = {1, 4, 6}, DOMAIN_B = {0, 3, 7};

    static Path buildModel(Path dir) throws Exception {
        Random rnd = new Random(42);
        float[] u = unit(rnd), v = orthogonalUnit(u, rnd);
        Path model = dir.resolve("synthetic");
        try (Checkpoint base = Checkpoint.open(BASE);
             SafetensorsWriter w = new SafetensorsWriter(model, Long.MAX_VALUE, Map.of("format", "pt"))) {
            ModelSpec spec = ConfigReader.read(BASE);
            for (String name : base.names()) {
                long[] shape = base.info(name).shape();
                if (name.equals("model.embed_tokens.weight")) {
                    // tokens 0..127 along u, 128..255 along v, with a little noise
                    float[] emb = new float[VOCAB * H];
                    for (int t = 0; t < VOCAB; t++) {
                        float[] dirn = t < 128 ? u : v;
                        for (int i = 0; i < H; i++) emb[t * H + i] = dirn[i] + 0.05f * (float) rnd.nextGaussian() / 8;
                    }
                    w.addFloats(name, DType.F32, shape, emb);
                } else if (name.endsWith("mlp.gate.weight")) {
                    float[] router = new float[E * H];
                    for (int e = 0; e < E; e++) {
                        float[] dirn = contains(DOMAIN_A, e) ? u : contains(DOMAIN_B, e) ? v : null;
                        for (int i = 0; i < H; i++) {
                            router[e * H + i] = dirn != null ? 0.5f * dirn[i] : 0.02f * (float) rnd.nextGaussian();
                        }
                    }
                    w.addFloats(name, DType.F32, shape, router);
                } else if (name.endsWith("self_attn.o_proj.weight")) {
                    w.addFloats(name, DType.F32, shape, new float[(int) (shape[0] * shape[1])]);  // attention adds nothing
                } else if (name.contains("experts") && name.endsWith("down_proj.weight")) {
                    float[] small = base.tensor(name).toFloatArray();
                    for (int i = 0; i < small.length; i++) small[i] *= 0.05f;   // keep the residual stream near its direction
                    w.addFloats(name, DType.F32, shape, small);
                } else {
                    w.copy(base, name);
                }
            }
            w.finish();
            assertEquals(3, spec.moe().topK());
        }
        Files.copy(BASE.resolve("config.json"), model.resolve("config.json"));
        return model;
    }

    @Test
    void easyepRecoversTheExpertsThatCarryTheDomain(@TempDir Path dir) throws Exception {
        Path modelDir = buildModel(dir);
        ModelSpec spec = ConfigReader.read(modelDir);
        Random rnd = new Random(1);
        try (Model model = Model.load(modelDir, spec)) {
            for (int[] expected : List.of(DOMAIN_A, DOMAIN_B)) {
                int lo = expected == DOMAIN_A ? 0 : 128;
                List<int[]> demos = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (int d = 0; d < 4; d++) {
                    int[] ids = new int[24];
                    for (int i = 0; i < ids.length; i++) ids[i] = lo + rnd.nextInt(128);
                    demos.add(ids);
                    names.add("demo" + d);
                }
                ExpertStats stats = new Calibrator(model).run(demos, names, "fp", "synthetic", n -> { });
                assertEquals(96, stats.totalTokens());
                int[][] kept = ExpertSelector.select(Method.EASYEP.scores(stats, 0), Budget.perLayer(3), 3);
                for (int[] layer : kept) assertArrayEquals(expected, layer);
                // and easyep's scores are positive exactly on that set
                double[][] scores = Method.EASYEP.scores(stats, 0);
                for (double[] layer : scores) {
                    for (int e = 0; e < E; e++) assertEquals(contains(expected, e), layer[e] > 0, "expert " + e);
                }
            }
        }
    }

    static boolean contains(int[] a, int x) {
        for (int v : a) if (v == x) return true;
        return false;
    }

    static float[] unit(Random rnd) {
        float[] x = new float[H];
        double n = 0;
        for (int i = 0; i < H; i++) n += (x[i] = (float) rnd.nextGaussian()) * x[i];
        for (int i = 0; i < H; i++) x[i] /= (float) Math.sqrt(n);
        return x;
    }

    static float[] orthogonalUnit(float[] u, Random rnd) {
        float[] v = unit(rnd);
        double d = 0;
        for (int i = 0; i < H; i++) d += u[i] * v[i];
        double n = 0;
        for (int i = 0; i < H; i++) n += (v[i] -= (float) (d * u[i])) * v[i];
        for (int i = 0; i < H; i++) v[i] /= (float) Math.sqrt(n);
        return v;
    }
}
