package io.moeprune.prune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.inspect.TensorCheck;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.TensorInfo;
import io.moeprune.select.ExpertMask;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Prunes every conformance fixture with a uniform mask (half of each layer / group) and checks the result against
 * the input independently of the pruner's own tensor plan.
 */
class PruneConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern PER_EXPERT = Pattern.compile("(model\\.layers\\.)(\\d+)(\\.\\w+\\.experts\\.)(\\d+)(\\..+)");

    static List<String> families() {
        return PruneFixtures.FAMILIES;
    }

    @ParameterizedTest
    @MethodSource("families")
    void prunesFixture(String family, @TempDir Path tmp) throws IOException {
        Path model = PruneFixtures.CONFORMANCE.resolve(family);
        ModelSpec spec = ConfigReader.read(model);
        ExpertMask mask = PruneFixtures.halfMask(spec, family.hashCode());
        Path maskFile = PruneFixtures.writeMask(mask, tmp);
        Map<String, String> before = PruneFixtures.hashes(model);
        Path out = tmp.resolve("pruned");
        // Small shards so most fixtures come out sharded with an index.
        PruneResult r = Pruner.prune(model, maskFile, out, Pruner.Options.defaults().withMaxShardBytes(200_000));

        assertEquals(before, PruneFixtures.hashes(model), "input changed");
        assertEquals(List.of("mask.json", "pruned"), PruneFixtures.listing(tmp), "staging left behind");
        int k = mask.kept()[0].length;
        assertEquals(k, r.keptPerLayer());

        // config.json: only the expert count changed; key order kept.
        JsonNode oldCfg = JSON.readTree(model.resolve("config.json").toFile());
        JsonNode newCfg = JSON.readTree(out.resolve("config.json").toFile());
        List<String> oldKeys = new ArrayList<>(), newKeys = new ArrayList<>();
        oldCfg.fieldNames().forEachRemaining(oldKeys::add);
        newCfg.fieldNames().forEachRemaining(newKeys::add);
        assertEquals(oldKeys, newKeys);
        for (String key : oldKeys) {
            if (key.equals(spec.expertCountKey())) assertEquals(k, newCfg.get(key).asInt());
            else assertEquals(oldCfg.get(key), newCfg.get(key), key);
        }
        ModelSpec pruned = ConfigReader.read(out);
        assertEquals(k, pruned.moe().numExperts());
        assertEquals(spec.moe().groups(), pruned.moe().groups());

        // Other files copied byte for byte; weights of other formats left out.
        for (String f : new String[]{"generation_config.json", "reference.json"}) {
            if (Files.exists(model.resolve(f))) assertEquals(PruneFixtures.sha256(model.resolve(f)), PruneFixtures.sha256(out.resolve(f)), f);
        }
        assertFalse(Files.exists(out.resolve("reference.safetensors")));

        try (Checkpoint in = Checkpoint.open(model); Checkpoint o = Checkpoint.open(out)) {
            TensorCheck check = TensorCheck.of(pruned, o);
            assertTrue(check.passes(), () -> "missing " + check.missing() + " wrong " + check.wrongShape());
            assertEquals(List.of(), check.unexpected());

            long total = 0;
            for (String n : o.names()) total += o.info(n).byteSize();
            assertEquals(r.totalSize(), total);
            if (Files.exists(out.resolve(Checkpoint.INDEX))) {
                JsonNode index = JSON.readTree(out.resolve(Checkpoint.INDEX).toFile());
                assertEquals(total, index.path("metadata").path("total_size").asLong());
                assertTrue(r.shards().size() > 1);
            } else {
                assertEquals(List.of(Checkpoint.SINGLE), r.shards());
            }

            Set<String> accounted = new HashSet<>();
            for (String name : in.names()) {
                TensorInfo t = in.info(name);
                Matcher m = PER_EXPERT.matcher(name);
                int[] keep = m.matches() ? mask.keptInLayer(Integer.parseInt(m.group(2))) : null;
                if (keep != null) {
                    int newId = Arrays.binarySearch(keep, Integer.parseInt(m.group(4)));
                    if (newId < 0) continue;   // dropped expert
                    String target = m.group(1) + m.group(2) + m.group(3) + newId + m.group(5);
                    assertArrayEquals(bytes(in, name), bytes(o, target), target);
                    assertEquals(t.dtype(), o.info(target).dtype());
                    accounted.add(target);
                    continue;
                }
                assertTrue(o.has(name), () -> "output lacks " + name);
                TensorInfo u = o.info(name);
                assertEquals(t.dtype(), u.dtype(), name);
                int layer = layerOf(name);
                int[] layerKeep = layer < 0 ? null : mask.keptInLayer(layer);
                if (layerKeep != null && t.rank() > 0 && t.dim(0) == spec.moe().numExperts() && u.dim(0) == k) {
                    // Router rows, selection bias, fused experts: the kept rows in ascending original order.
                    byte[] src = bytes(in, name), dst = bytes(o, name);
                    int row = src.length / spec.moe().numExperts();
                    assertEquals(row * k, dst.length);
                    for (int j = 0; j < k; j++) {
                        assertArrayEquals(Arrays.copyOfRange(src, layerKeep[j] * row, (layerKeep[j] + 1) * row),
                                Arrays.copyOfRange(dst, j * row, (j + 1) * row), name + " row " + j);
                    }
                } else {
                    assertArrayEquals(t.shape(), u.shape(), name);
                    assertArrayEquals(bytes(in, name), bytes(o, name), name);
                }
                accounted.add(name);
            }
            assertEquals(o.names(), accounted, "output has tensors not derived from the input");
            assertEquals(r.tensors(), o.names().size());
        }
        // The router of every MoE layer was sliced (not copied whole).
        for (int layer : spec.moeLayers()) {
            try (Checkpoint o = Checkpoint.open(out)) {
                assertEquals(k, o.info(io.moeprune.model.TensorNames.format(spec.names().routerWeight(), layer)).dim(0));
            }
        }
    }

    private static int layerOf(String name) {
        Matcher m = Pattern.compile("^model\\.layers\\.(\\d+)\\.").matcher(name);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    static byte[] bytes(Checkpoint c, String name) {
        return c.tensor(name).data().toArray(ValueLayout.JAVA_BYTE);
    }
}
