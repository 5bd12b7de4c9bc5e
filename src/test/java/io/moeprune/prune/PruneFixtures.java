package io.moeprune.prune;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Shared helpers of the prune tests: fixture paths, masks, input hashes. */
final class PruneFixtures {
    static final Path CONFORMANCE = Path.of("src/test/resources/conformance");
    static final List<String> FAMILIES = List.of("qwen3_moe", "qwen3_moe_f32", "qwen2_moe", "olmoe", "mixtral",
            "deepseek_v2", "deepseek_v3", "deepseek_v3_fp8", "gpt_oss", "gpt_oss_mxfp4", "granitemoe");

    private PruneFixtures() {
    }

    /** Keeps half of every expert group (the whole layer when there are no groups), a different choice per layer. */
    static ExpertMask halfMask(ModelSpec spec, long seed) {
        int e = spec.moe().numExperts();
        int groups = spec.moe().groups().enabled() ? spec.moe().groups().nGroup() : 1;
        int perGroup = e / groups;
        Random rnd = new Random(seed);
        List<Integer> layers = spec.moeLayers();
        int[][] kept = new int[layers.size()][];
        for (int l = 0; l < layers.size(); l++) {
            List<Integer> ids = new ArrayList<>();
            for (int g = 0; g < groups; g++) {
                List<Integer> members = new ArrayList<>();
                for (int x = 0; x < perGroup; x++) members.add(g * perGroup + x);
                java.util.Collections.shuffle(members, rnd);
                ids.addAll(members.subList(0, perGroup / 2));
            }
            kept[l] = ids.stream().mapToInt(Integer::intValue).sorted().toArray();
        }
        return mask(spec, kept);
    }

    static ExpertMask mask(ModelSpec spec, int[][] kept) {
        return new ExpertMask("", spec.family().modelType(), spec.moe().numExperts(), spec.moe().topK(),
                spec.moeLayers(), kept, "test", "half", List.of());
    }

    static Path writeMask(ExpertMask mask, Path dir) {
        Path f = dir.resolve("mask.json");
        MaskFiles.write(mask, f);
        return f;
    }

    static ModelSpec spec(String family) {
        return ConfigReader.read(CONFORMANCE.resolve(family));
    }

    /** SHA-256 of every file under {@code dir}, by relative path. */
    static Map<String, String> hashes(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) out.put(dir.relativize(p).toString(), sha256(p));
        }
        return out;
    }

    static String sha256(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Names in {@code parent} (to see that nothing was left behind). */
    static List<String> listing(Path parent) throws IOException {
        try (Stream<Path> s = Files.list(parent)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
