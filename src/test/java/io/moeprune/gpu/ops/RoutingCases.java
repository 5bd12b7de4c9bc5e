package io.moeprune.gpu.ops;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;
import io.moeprune.runtime.Router;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The routers the device routing is checked on: every conformance fixture's config (each family's router), and
 * wider ones of the real models' shapes (DeepSeek-V3's 256 experts in 8 groups, an E that is no multiple of the warp,
 * groups spread over several lanes), each without a mask and with a random one under every {@link GroupStrategy}.
 * Logits are random on a coarse grid, so exact ties (between experts and between groups) are common, with a few
 * tokens all equal, one with a NaN and one with ±infinity.
 */
public final class RoutingCases {
    /** One router, mask and strategy, with the logits of {@code tokens} tokens. */
    public record Case(String name, Router router, RoutingSpec spec, float[] selectionBias, boolean[] kept,
                       GroupStrategy strategy, float[] logits, int tokens) {
        public int experts() {
            return spec.numExperts();
        }

        /** The mask as the device takes it: int flags, or null. */
        public int[] keptFlags() {
            if (kept == null) return null;
            int[] f = new int[kept.length];
            for (int i = 0; i < f.length; i++) f[i] = kept[i] ? 1 : 0;
            return f;
        }
    }

    private RoutingCases() {
    }

    /** Every case; {@code tokens} per case (enough for several grouping tiles: k·tokens above 1024). */
    public static List<Case> all(int tokens) {
        List<MoeSpec> specs = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Path fixtures = Path.of("src/test/resources/conformance");
        try (Stream<Path> dirs = Files.list(fixtures)) {
            for (Path d : dirs.sorted().toList()) {
                if (!Files.isRegularFile(d.resolve(ConfigReader.CONFIG))) continue;
                specs.add(ConfigReader.read(d).moe());
                names.add(d.getFileName().toString());
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        if (specs.size() < 8) throw new IllegalStateException("conformance fixtures missing under " + fixtures);
        specs.add(wide(256, 8, 8, 4, MoeSpec.Scoring.SIGMOID, true, 2.5f, MoeSpec.Groups.GroupScore.SUM_TOP2));
        names.add("deepseek_v3-256");
        specs.add(wide(160, 6, 8, 3, MoeSpec.Scoring.SOFTMAX, false, 16f, MoeSpec.Groups.GroupScore.MAX));
        names.add("deepseek_v2-160");
        specs.add(wide(100, 8, 1, 1, MoeSpec.Scoring.SOFTMAX, true, 1f, MoeSpec.Groups.GroupScore.MAX));
        names.add("softmax-100");
        specs.add(wide(64, 4, 1, 1, MoeSpec.Scoring.SOFTMAX_TOPK, false, 1f, MoeSpec.Groups.GroupScore.MAX));
        names.add("softmax_topk-64");

        List<Case> cases = new ArrayList<>();
        Random rnd = new Random(2212);
        for (int c = 0; c < specs.size(); c++) {
            MoeSpec m = specs.get(c);
            int e = m.numExperts();
            float[] bias = m.selectionBias() ? grid(rnd, e, 0.05f, 8) : null;
            Router router = new Router(m, bias);
            RoutingSpec spec = RoutingSpec.of(router);
            cases.add(new Case(names.get(c) + " unmasked", router, spec, bias, null, GroupStrategy.BALANCED,
                    logits(rnd, tokens, e), tokens));
            for (GroupStrategy s : GroupStrategy.values()) {
                boolean[] kept = mask(rnd, e, m.topK());
                cases.add(new Case(names.get(c) + " " + s.cliName(), router, spec, bias, kept, s,
                        logits(rnd, tokens, e), tokens));
            }
            if (m.groups().enabled()) {
                cases.add(new Case(names.get(c) + " nogroup unmasked", router, spec, bias, null, GroupStrategy.NOGROUP,
                        logits(rnd, tokens, e), tokens));
            }
        }
        return cases;
    }

    private static MoeSpec wide(int experts, int k, int nGroup, int topkGroup, MoeSpec.Scoring scoring, boolean norm,
                                float scaling, MoeSpec.Groups.GroupScore score) {
        return new MoeSpec(experts, k, 8, scoring, norm, scaling, new MoeSpec.Groups(nGroup, topkGroup, score),
                scoring == MoeSpec.Scoring.SIGMOID, false, 0, 0, false, MoeSpec.ExpertLayout.PER_EXPERT,
                MoeSpec.Activation.SWIGLU);
    }

    /** Values step·(−levels … levels): coarse, so equal values are common. */
    private static float[] grid(Random rnd, int n, float step, int levels) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = step * (rnd.nextInt(2 * levels + 1) - levels);
        return v;
    }

    private static float[] logits(Random rnd, int tokens, int experts) {
        float[] z = grid(rnd, tokens * experts, 0.25f, 12);
        java.util.Arrays.fill(z, 0, experts, 0.5f);                 // token 0: every expert ties
        java.util.Arrays.fill(z, experts, 2 * experts, -1.25f);     // token 1 too, another value
        if (tokens > 4) {
            z[2 * experts + 3] = Float.NaN;                         // token 2: a NaN logit
            z[3 * experts + 1] = Float.NEGATIVE_INFINITY;           // token 3: ±infinity
            z[3 * experts + experts - 1] = Float.POSITIVE_INFINITY;
        }
        return z;
    }

    /** About half the experts kept, at least k. */
    private static boolean[] mask(Random rnd, int experts, int k) {
        boolean[] kept = new boolean[experts];
        int count = 0;
        for (int i = 0; i < experts; i++) if (kept[i] = rnd.nextBoolean()) count++;
        for (int i = 0; count < k; i++) if (!kept[i]) {
            kept[i] = true;
            count++;
        }
        return kept;
    }
}
