package io.moeprune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.MaskFiles;
import io.moeprune.select.Method;
import io.moeprune.select.MixedDomain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code moeprune select}: from calibration statistics to the experts to keep (a mask file). */
@Command(name = "select", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Scores every routed expert from calibration statistics and writes the experts to keep.",
                "Several STATS files (one per domain) give a mixed-domain selection: each domain's per-layer "
                        + "scores are normalised to sum 1, then added (weighted by --domain-weights)."},
        footer = {"", "Methods: easyep, easyep-no-token, easyep-no-norm, gating, frequency, reap, premoe, premoe-prob, random.",
                "Examples:",
                "  moeprune select math.stats --method easyep --keep 16 --out math-16.mask.json",
                "  moeprune select math.stats code.stats --method easyep --keep-ratio 0.5 --budget global --out mix.mask.json",
                "  moeprune select --import-easyep mask.json --model MODEL --out imported.mask.json"})
final class SelectCommand implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "STATS", description = "statistics files written by `moeprune calibrate`")
    List<Path> stats = new ArrayList<>();

    @Option(names = "--method", defaultValue = "easyep", description = "scoring method (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--keep", description = "experts to keep per MoE layer (on average with --budget global)")
    Integer keep;

    @Option(names = "--keep-ratio", description = "fraction of the experts to keep, e.g. 0.5")
    Double keepRatio;

    @Option(names = "--budget", defaultValue = "per-layer",
            description = "per-layer (same count in every layer) or global (counts follow score mass, at least top-k per layer)")
    String budget;

    @Option(names = "--floor", description = "global budget: least experts per layer (default: the model's top-k)")
    Integer floor;

    @Option(names = "--groups", description = "keep an equal number of experts in each of N expert groups (DeepSeek n_group)")
    Integer groups;

    @Option(names = "--domain-weights", split = ",", description = "weights of the STATS files in a mixed-domain selection")
    double[] domainWeights;

    @Option(names = "--seed", defaultValue = "0", description = "seed of the random method")
    long seed;

    @Option(names = "--out", required = true, description = "mask file to write")
    Path out;

    @Option(names = "--export-easyep", description = "also write EASY-EP's bare [layer][expert] 1.0/0.0 array here")
    Path exportEasyEp;

    @Option(names = "--import-easyep", description = "convert an EASY-EP mask (needs --model) instead of selecting")
    Path importEasyEp;

    @Option(names = "--model", converter = ModelDirConverter.class, description = "model directory (for --import-easyep)")
    Path model;

    @Option(names = "--json", description = "print the result as JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ExpertMask mask = importEasyEp != null ? importMask() : selectMask();
        MaskFiles.write(mask, out);
        if (exportEasyEp != null) MaskFiles.exportEasyEp(mask, exportEasyEp);
        print(mask);
        return 0;
    }

    private ExpertMask importMask() {
        if (model == null) throw new MoepruneException("--import-easyep needs --model MODEL to know the layers and experts");
        ModelSpec spec = ConfigReader.read(model);
        try (Checkpoint ckpt = Checkpoint.open(model)) {
            return MaskFiles.importEasyEp(importEasyEp, ModelFingerprint.of(spec, ckpt), spec.family().modelType(),
                    spec.moe().numExperts(), spec.moe().topK(), spec.moeLayers());
        }
    }

    private ExpertMask selectMask() {
        if (stats.isEmpty()) throw new MoepruneException("give at least one STATS file (from `moeprune calibrate`)");
        Method m = Method.parse(method);
        List<ExpertStats> domains = new ArrayList<>();
        for (Path p : stats) domains.add(StatsFile.read(p));
        ExpertStats first = domains.get(0);
        for (int i = 1; i < domains.size(); i++) {
            ExpertStats s = domains.get(i);
            if (!s.fingerprint().equals(first.fingerprint()) || s.numExperts() != first.numExperts()
                    || !s.moeLayers().equals(first.moeLayers())) {
                throw MoepruneException.inFile(stats.get(i), "statistics from another model (fingerprint "
                        + s.fingerprint() + ", " + stats.get(0) + " has " + first.fingerprint() + ")");
            }
        }
        if (domainWeights != null && domainWeights.length != domains.size()) {
            throw new MoepruneException("--domain-weights gives " + domainWeights.length + " weights for "
                    + domains.size() + " STATS files");
        }
        int experts = first.numExperts();
        int k = keepCount(experts);
        Budget b = switch (budget) {
            case "per-layer" -> Budget.perLayer(k);
            case "global" -> Budget.global(k, floor == null ? first.topK() : floor);
            default -> throw new MoepruneException("--budget must be per-layer or global, not '" + budget + "'");
        };
        if (groups != null && groups > 1) b = b.withGroups(groups);
        List<double[][]> scores = new ArrayList<>();
        for (ExpertStats s : domains) scores.add(m.scores(s, seed));
        double[][] combined = domains.size() == 1 ? scores.get(0) : MixedDomain.combine(scores, domainWeights);
        int[][] kept = ExpertSelector.select(combined, b, first.topK());
        List<ExpertMask.DomainRef> refs = new ArrayList<>();
        for (int i = 0; i < domains.size(); i++) {
            ExpertStats s = domains.get(i);
            refs.add(new ExpertMask.DomainRef(s.domain(), domainWeights == null ? 1.0 : domainWeights[i], s.numDemos(),
                    s.totalTokens()));
        }
        return new ExpertMask(first.fingerprint(), StatsFile.family(stats.get(0)), experts, first.topK(),
                first.moeLayers(), kept, m.cliName(), b.describe(), refs);
    }

    private int keepCount(int experts) {
        if ((keep == null) == (keepRatio == null)) throw new MoepruneException("give exactly one of --keep K or --keep-ratio R");
        if (keep != null) return keep;
        if (!(keepRatio > 0 && keepRatio <= 1)) throw new MoepruneException("--keep-ratio must be in (0, 1], not " + keepRatio);
        return (int) Math.round(keepRatio * experts);
    }

    private void print(ExpertMask mask) throws Exception {
        if (json) {
            ObjectMapper om = new ObjectMapper();
            ObjectNode o = om.createObjectNode();
            o.put("mask", out.toString()).put("method", mask.method()).put("budget", mask.budget())
                    .put("kept_total", mask.keptTotal()).put("experts_total", mask.numExperts() * mask.kept().length);
            ArrayNode counts = o.putArray("kept_per_layer");
            for (int[] k : mask.kept()) counts.add(k.length);
            System.out.println(om.writerWithDefaultPrettyPrinter().writeValueAsString(o));
            return;
        }
        System.out.printf(Locale.ROOT, "method %s, budget %s, domains %s%n", mask.method(), mask.budget(),
                mask.domains().stream().map(ExpertMask.DomainRef::name).toList());
        for (int i = 0; i < mask.kept().length; i++) {
            System.out.printf(Locale.ROOT, "  layer %3d: keeps %3d of %d%n", mask.moeLayers().get(i), mask.kept()[i].length,
                    mask.numExperts());
        }
        System.out.printf(Locale.ROOT, "wrote %s (%d of %d experts kept)%n", out, mask.keptTotal(),
                mask.numExperts() * mask.kept().length);
    }
}
