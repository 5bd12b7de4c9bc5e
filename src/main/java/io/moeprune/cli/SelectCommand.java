package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.MaskFiles;
import io.moeprune.select.Method;
import io.moeprune.select.MixedDomain;
import io.moeprune.select.ReapReport;
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
                "  moeprune select math.stats --keep 16 --strategy balanced --out math-16-balanced.mask.json",
                "  moeprune select --import-easyep mask.json --model MODEL --out imported.mask.json",
                "  moeprune select --import-reap reap_report.json --model MODEL --out imported.mask.json"})
final class SelectCommand implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "STATS", description = "statistics files written by `moeprune calibrate`")
    List<Path> stats = new ArrayList<>();

    @Option(names = "--method", defaultValue = "easyep", description = "scoring method (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--keep", converter = Ranges.Positive.class, description = "experts to keep per MoE layer (on average with --budget global)")
    Integer keep;

    @Option(names = "--keep-ratio", converter = Ranges.Fraction.class, description = "fraction of the experts to keep, e.g. 0.5")
    Double keepRatio;

    @Option(names = "--budget", defaultValue = "per-layer",
            description = "per-layer (same count in every layer) or global (counts follow score mass, at least top-k per layer)")
    String budget;

    @Option(names = "--floor", converter = Ranges.Positive.class, description = "global budget: least experts per layer (default: the model's top-k)")
    Integer floor;

    @Option(names = "--strategy", paramLabel = "S", description = "routers with expert groups (DeepSeek n_group > 1): "
            + "nogroup (default: top-K ignoring groups; prune writes n_group = topk_group = 1), balanced (an equal number "
            + "kept in every group; groups kept) or easyep-mul (EASY-EP's serving patch; mask mode only, prune refuses it)")
    String strategy;

    @Option(names = "--groups", paramLabel = "N", converter = Ranges.Positive.class, description = "the model's n_group for --strategy balanced, for "
            + "statistics calibrated before they recorded it; alone it means --strategy balanced")
    Integer groups;

    @Option(names = "--domain-weights", converter = Ranges.NonNegativeDouble.class, split = ",", description = "weights of the STATS files in a mixed-domain selection")
    double[] domainWeights;

    @Option(names = "--seed", defaultValue = "0", description = "seed of the random method")
    long seed;

    @Option(names = "--out", required = true, description = "mask file to write")
    Path out;

    @Option(names = "--export-easyep", description = "also write EASY-EP's bare [layer][expert] 1.0/0.0 array here")
    Path exportEasyEp;

    @Option(names = "--import-easyep", description = "convert an EASY-EP mask (needs --model) instead of selecting")
    Path importEasyEp;

    @Option(names = "--export-reap", description = "also write llm-compressor REAP's report (module name -> retained ids) here")
    Path exportReap;

    @Option(names = "--import-reap", description = "convert llm-compressor REAP's report_path JSON (needs --model) instead of selecting")
    Path importReap;

    @Option(names = "--model", converter = ModelDirConverter.class, description = "model directory (for --import-easyep and --import-reap)")
    Path model;

    @Option(names = "--json", description = "print the result as one JSON object (format moeprune-select)")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ExpertMask mask = importEasyEp != null || importReap != null ? importMask() : selectMask();
        MaskFiles.write(mask, out);
        if (exportEasyEp != null) MaskFiles.exportEasyEp(mask, exportEasyEp);
        if (exportReap != null) ReapReport.export(mask, exportReap);
        print(mask);
        return 0;
    }

    private ExpertMask importMask() {
        String option = importEasyEp != null ? "--import-easyep" : "--import-reap";
        if (importEasyEp != null && importReap != null) throw new MoepruneException("give one of --import-easyep and --import-reap");
        if (model == null) throw new MoepruneException(option + " needs --model MODEL to know the layers and experts");
        ModelSpec spec = ConfigReader.read(model);
        try (Checkpoint ckpt = Checkpoint.open(model)) {
            String fingerprint = ModelFingerprint.of(spec, ckpt);
            return importEasyEp != null
                    ? MaskFiles.importEasyEp(importEasyEp, fingerprint, spec.family().modelType(),
                    spec.moe().numExperts(), spec.moe().topK(), spec.moeLayers())
                    : ReapReport.importReport(importReap, fingerprint, spec.family().modelType(),
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
        GroupStrategy routing = strategy != null ? GroupStrategy.parse(strategy)
                : groups != null && groups > 1 ? GroupStrategy.BALANCED : GroupStrategy.NOGROUP;
        if (routing == GroupStrategy.BALANCED) b = b.withGroups(balancedGroups(k, first.topK()));
        List<double[][]> scores = new ArrayList<>();
        for (ExpertStats s : domains) scores.add(m.scores(s, seed));
        double[][] combined = domains.size() == 1 ? scores.get(0) : MixedDomain.combine(scores, domainWeights);
        int[][] kept = ExpertSelector.select(combined, b, first.topK());
        List<ExpertMask.DomainRef> refs = new ArrayList<>();
        for (int i = 0; i < domains.size(); i++) {
            ExpertStats s = domains.get(i);
            refs.add(new ExpertMask.DomainRef(s.domain(), domainWeights == null ? 1.0 : domainWeights[i], s.numDemos(),
                    s.totalTokens(), s.demos()));
        }
        return new ExpertMask(first.fingerprint(), StatsFile.family(stats.get(0)), experts, first.topK(),
                first.moeLayers(), kept, m.cliName(), b.describe(), refs, routing);
    }

    /**
     * The group count of --strategy balanced, from the statistics (or --groups for older ones), after checking that K
     * splits evenly and, when the statistics record topk_group, that the pruned groups can still route top-k.
     */
    private int balancedGroups(int k, int topK) {
        Groups recorded = StatsFile.groups(stats.get(0));
        if (recorded == null && groups == null) {
            throw MoepruneException.inFile(stats.get(0), "--strategy balanced needs the model's expert groups, which these "
                    + "statistics do not record (calibrated before they did); give --groups N or calibrate again");
        }
        if (recorded != null && groups != null && groups != recorded.nGroup()) {
            throw MoepruneException.inFile(stats.get(0), "--groups " + groups + " but the model has n_group = "
                    + recorded.nGroup());
        }
        int n = groups != null ? groups : recorded.nGroup();
        if (n <= 1) {
            throw MoepruneException.inFile(stats.get(0), "--strategy balanced keeps an equal number per expert group, "
                    + "but the model has no expert groups (n_group = " + n + ")");
        }
        if (k % n != 0) {
            throw new MoepruneException("--strategy balanced keeps an equal number in each of the " + n
                    + " expert groups, so K must be a multiple of " + n + ", not " + k);
        }
        String problem = recorded == null ? null : recorded.balancedProblem(k / n, topK);
        if (problem != null) throw new MoepruneException("--strategy balanced with K = " + k + ": " + problem);
        return n;
    }

    private int keepCount(int experts) {
        return keepCount(keep, keepRatio, experts);
    }

    /** Experts to keep per layer from exactly one of --keep K and --keep-ratio R (shared with `patterns build`). */
    static int keepCount(Integer keep, Double keepRatio, int experts) {
        if ((keep == null) == (keepRatio == null)) throw new MoepruneException("give exactly one of --keep K or --keep-ratio R");
        if (keep != null) return keep;
        return (int) Math.round(keepRatio * experts);
    }

    private void print(ExpertMask mask) throws Exception {
        if (json) {
            ObjectNode o = ResultJson.object("moeprune-select");
            o.put("mask", out.toString()).put("method", mask.method()).put("budget", mask.budget())
                    .put("strategy", mask.strategy() == null ? null : mask.strategy().cliName())
                    .put("kept_total", mask.keptTotal()).put("experts_total", mask.numExperts() * mask.kept().length);
            ArrayNode counts = o.putArray("kept_per_layer");
            for (int[] k : mask.kept()) counts.add(k.length);
            ResultJson.emit(o, true, null, System.out);
            return;
        }
        System.out.printf(Locale.ROOT, "method %s, budget %s, strategy %s, domains %s%n", mask.method(), mask.budget(),
                mask.strategy() == null ? "none recorded" : mask.strategy().cliName(), mask.domains().stream().map(ExpertMask.DomainRef::name).toList());
        for (int i = 0; i < mask.kept().length; i++) {
            System.out.printf(Locale.ROOT, "  layer %3d: keeps %3d of %d%n", mask.moeLayers().get(i), mask.kept()[i].length,
                    mask.numExperts());
        }
        System.out.printf(Locale.ROOT, "wrote %s (%d of %d experts kept)%n", out, mask.keptTotal(),
                mask.numExperts() * mask.kept().length);
    }
}
