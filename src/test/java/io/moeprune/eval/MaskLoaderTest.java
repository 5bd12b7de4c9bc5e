package io.moeprune.eval;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.MaskFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Mask loading and its model check, and continuation scoring, on the qwen3_moe conformance fixture. */
class MaskLoaderTest {
    static final Path MODEL = Path.of("src/test/resources/conformance/qwen3_moe");

    /** A native mask keeping the first {@code keep} experts of every MoE layer, made for {@code fingerprint}. */
    static Path writeMask(Path file, ModelSpec spec, String fingerprint, int numExperts, List<Integer> moeLayers, int keep) {
        int[][] kept = new int[moeLayers.size()][];
        for (int i = 0; i < kept.length; i++) kept[i] = IntStream.range(0, keep).toArray();
        MaskFiles.write(new io.moeprune.select.ExpertMask(fingerprint, spec.family().modelType(), numExperts,
                spec.moe().topK(), moeLayers, kept, "test", "per-layer " + keep, List.of()), file);
        return file;
    }

    @Test
    void nativeMaskForThisModelLoads(@TempDir Path dir) {
        ModelSpec spec = ConfigReader.read(MODEL);
        try (Checkpoint c = Checkpoint.open(MODEL)) {
            int keep = spec.moe().topK();
            Path f = writeMask(dir.resolve("m.json"), spec, ModelFingerprint.of(spec, c), spec.moe().numExperts(),
                    spec.moeLayers(), keep);
            ExpertMask m = MaskLoader.load(f, spec, c);
            for (int layer : spec.moeLayers()) {
                boolean[] expected = new boolean[spec.moe().numExperts()];
                for (int e = 0; e < keep; e++) expected[e] = true;
                assertArrayEquals(expected, m.kept(layer));
            }
            // Without a fingerprint the shape check alone applies.
            Path anon = writeMask(dir.resolve("anon.json"), spec, "", spec.moe().numExperts(), spec.moeLayers(), keep);
            assertEquals(spec.moeLayers().size(), MaskLoader.load(anon, MODEL, spec).layers().size());
        }
    }

    @Test
    void maskForAnotherModelIsRefused(@TempDir Path dir) throws Exception {
        ModelSpec spec = ConfigReader.read(MODEL);
        try (Checkpoint c = Checkpoint.open(MODEL)) {
            String fp = ModelFingerprint.of(spec, c);
            Path f = writeMask(dir.resolve("m.json"), spec, fp, spec.moe().numExperts(), spec.moeLayers(), spec.moe().topK());
            String edited = "sha256:" + "0".repeat(24);
            assertNotEquals(fp, edited);
            Files.writeString(f, Files.readString(f).replace(fp, edited));
            var e = assertThrows(MoepruneException.class, () -> MaskLoader.load(f, spec, c));
            assertTrue(e.getMessage().startsWith(f + ": mask was made for another model"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());

            Path experts = writeMask(dir.resolve("e.json"), spec, "", spec.moe().numExperts() * 2, spec.moeLayers(),
                    spec.moe().topK());
            e = assertThrows(MoepruneException.class, () -> MaskLoader.load(experts, spec, c));
            assertTrue(e.getMessage().contains("routed experts per layer"), e.getMessage());

            List<Integer> fewer = spec.moeLayers().subList(0, spec.moeLayers().size() - 1);
            Path layers = writeMask(dir.resolve("l.json"), spec, "", spec.moe().numExperts(), fewer, spec.moe().topK());
            e = assertThrows(MoepruneException.class, () -> MaskLoader.load(layers, spec, c));
            assertTrue(e.getMessage().contains("MoE layers"), e.getMessage());
        }
    }

    @Test
    void bareLayersMaskIsStillAccepted(@TempDir Path dir) throws Exception {
        ModelSpec spec = ConfigReader.read(MODEL);
        int layer = spec.moeLayers().getFirst();
        Path f = Files.writeString(dir.resolve("bare.json"), "{\"layers\": {\"" + layer + "\": "
                + IntStream.range(0, spec.moe().topK()).boxed().toList() + "}}");
        ExpertMask m = MaskLoader.load(f, MODEL, spec);
        assertEquals(1, m.layers().size());
        Path notMoe = Files.writeString(dir.resolve("dense.json"), "{\"layers\": {\"" + spec.numLayers() + "\": [0, 1]}}");
        assertThrows(MoepruneException.class, () -> MaskLoader.load(notMoe, MODEL, spec));
    }

    /**
     * Issue 17 item 8: an expert listed twice in a bare mask was silently counted once; now every reader refuses it
     * as the native format does, on one line naming the file and the layer (and an id out of range likewise).
     */
    @Test
    void bareMaskWithAnExpertListedTwiceIsRefused(@TempDir Path dir) throws Exception {
        ModelSpec spec = ConfigReader.read(MODEL);
        int layer = spec.moeLayers().getFirst();
        Path f = Files.writeString(dir.resolve("dup.json"), "{\"layers\": {\"" + layer + "\": [0, 1, 2, 1, 3]}}");
        var e = assertThrows(MoepruneException.class, () -> MaskLoader.load(f, MODEL, spec));
        assertEquals(f + ": layer " + layer + ": expert id 1 is listed twice", e.getMessage());
        assertEquals(2, e.exitCode());
        Path range = Files.writeString(dir.resolve("range.json"), "{\"layers\": {\"" + layer + "\": [0, 1, 2, "
                + spec.moe().numExperts() + "]}}");
        e = assertThrows(MoepruneException.class, () -> MaskLoader.load(range, MODEL, spec));
        assertEquals(range + ": layer " + layer + ": expert id " + spec.moe().numExperts() + " is out of range 0.."
                + (spec.moe().numExperts() - 1), e.getMessage());
        // The native format gives the same line for the same mistake.
        Path nativeMask = writeMask(dir.resolve("n.json"), spec, "", spec.moe().numExperts(), spec.moeLayers(),
                spec.moe().topK());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(nativeMask.toFile());
        var ids = root.withObjectProperty("layers").putArray(Integer.toString(layer));
        for (int id : new int[]{0, 1, 2, 1, 3}) ids.add(id);
        json.writeValue(nativeMask.toFile(), root);
        e = assertThrows(MoepruneException.class, () -> MaskLoader.load(nativeMask, MODEL, spec));
        assertEquals(nativeMask + ": layer " + layer + ": expert id 1 is listed twice", e.getMessage());
        // Masks built in code go through the same check.
        e = assertThrows(MoepruneException.class, () -> ExpertMask.of(java.util.Map.of(layer, new int[]{4, 4}), 8));
        assertEquals("layer " + layer + ": expert id 4 is listed twice", e.getMessage());
    }

    /** A continuation's NLL equals the NLL of the whole sequence minus that of its prefix (causal attention). */
    @Test
    void continuationScoreIsTheDifferenceOfPerplexities() {
        try (Model model = Models.open(MODEL)) {
            Perplexity p = new Perplexity(model, ExpertMask.NONE);
            int[] ids = {5, 17, 200, 3, 99, 42, 7, 150, 11, 64};
            for (int from = 1; from < ids.length; from++) {
                Perplexity.Span s = p.scoreFrom(ids, from);
                double whole = p.score(ids).nll();
                double prefix = from < 2 ? 0 : p.score(java.util.Arrays.copyOf(ids, from)).nll();
                assertEquals(ids.length - from, s.predicted());
                assertEquals(whole - prefix, s.nll(), 1e-3 * Math.max(1, whole));
                assertTrue(s.nll() > 0);
            }
            assertEquals(p.score(ids).nll(), p.scoreFrom(ids, 1).nll(), 0);
            assertEquals(0, p.scoreFrom(ids, ids.length).predicted());
        }
    }

    /** The mask's strategy reaches the runtime: recorded, absent (old masks: balanced), bare form, unknown. */
    @Test
    void theStrategyReachesMaskMode(@TempDir Path dir) throws Exception {
        Path ds = Path.of("src/test/resources/conformance/deepseek_v3");
        ModelSpec spec = ConfigReader.read(ds);
        Path f = writeMask(dir.resolve("m.json"), spec, "", spec.moe().numExperts(), spec.moeLayers(), 8);
        assertEquals(io.moeprune.model.GroupStrategy.BALANCED, MaskLoader.load(f, ds, spec).strategy());
        MaskFiles.write(MaskFiles.read(f).withStrategy(io.moeprune.model.GroupStrategy.NOGROUP), f);
        assertEquals(io.moeprune.model.GroupStrategy.NOGROUP, MaskLoader.load(f, ds, spec).strategy());

        Path bare = dir.resolve("bare.json");
        Files.writeString(bare, "{\"layers\": {\"1\": [0, 1, 2, 3, 4, 5, 6, 7]}, \"strategy\": \"easyep-mul\"}");
        assertEquals(io.moeprune.model.GroupStrategy.EASYEP_MUL, MaskLoader.load(bare, ds, spec).strategy());
        Files.writeString(bare, "{\"layers\": {\"1\": [0, 1, 2, 3, 4, 5, 6, 7]}, \"strategy\": \"per-group\"}");
        MoepruneException e = assertThrows(MoepruneException.class, () -> MaskLoader.load(bare, ds, spec));
        assertTrue(e.getMessage().startsWith(bare.toString()) && e.getMessage().contains("unknown strategy 'per-group'"),
                e.getMessage());
    }
}
