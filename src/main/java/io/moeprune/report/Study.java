package io.moeprune.report;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.model.GroupStrategy;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Perplexity;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;
import io.moeprune.select.MixedDomain;
import io.moeprune.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The EASY-EP paper's main experiment on the user's own model: for every domain, calibrate on its first few
 * documents, select experts with every method at every budget, and measure next-token loss of the masked model (mask
 * mode routes exactly as the pruned checkpoint would) on the domain's held-out documents; the full model alongside;
 * and each domain's {@code oodMethod} masks on every other domain.
 */
public final class Study {
    private final StudyConfig config;
    private final Model model;
    private final Tokenizer tokenizer;
    private final Consumer<String> log;

    public Study(StudyConfig config, Model model, Tokenizer tokenizer, Consumer<String> log) {
        this.config = config;
        this.model = model;
        this.tokenizer = tokenizer;
        this.log = log;
    }

    public StudyResult run() {
        long t0 = System.nanoTime();
        ModelSpec spec = model.spec();
        int topK = spec.moe().topK(), experts = spec.moe().numExperts();
        Map<String, DomainSplit> splits = new LinkedHashMap<>();
        config.domains().forEach((name, path) -> {
            DomainSplit split = DomainSplit.of(name, path, config.textField(), tokenizer, config.demos(),
                    config.maxDemoTokens(), config.maxEvalDocs());
            if (split.demoIds().isEmpty() || split.evalIds().isEmpty()) {
                throw MoepruneException.inFile(path, "has " + split.demoIds().size() + " demonstration(s) and "
                        + split.evalIds().size() + " held-out document(s) of 2+ tokens; the study needs the first "
                        + config.demos() + " documents as demonstrations and at least one more to evaluate on");
            }
            splits.put(name, split);
        });

        Map<String, Quality> full = new LinkedHashMap<>();
        Map<String, Map<Method, Map<Integer, Quality>>> inDomain = new LinkedHashMap<>();
        Map<String, Map<Integer, ExpertMask>> oodMasks = new LinkedHashMap<>();
        Map<String, Map<Integer, int[][]>> oodKept = new LinkedHashMap<>();
        Map<String, double[][]> importance = new LinkedHashMap<>();
        Map<String, Long> evalTokens = new LinkedHashMap<>(), demoTokens = new LinkedHashMap<>();
        for (DomainSplit d : splits.values()) {
            evalTokens.put(d.name(), d.evalTokens());
            demoTokens.put(d.name(), d.demoIds().stream().mapToLong(a -> a.length).sum());
            log.accept(String.format("%s: calibrating on %d demonstrations (%d tokens), evaluating on %d documents (%d tokens)",
                    d.name(), d.demoIds().size(), demoTokens.get(d.name()), d.evalIds().size(), d.evalTokens()));
            ExpertStats stats = new Calibrator(model).run(d.demoIds(), d.demoTexts(), "", d.name(), n -> { });
            importance.put(d.name(), MixedDomain.normalisePerLayer(Method.EASYEP.scores(stats, config.seed())));
            full.put(d.name(), evaluate(d, ExpertMask.NONE));
            Map<Method, Map<Integer, Quality>> byMethod = new LinkedHashMap<>();
            for (Method m : config.methods()) {
                Map<Integer, Quality> byKeep = new TreeMap<>();
                for (int keep : config.keeps()) {
                    int[][] kept = ExpertSelector.select(m.scores(stats, config.seed()), Budget.perLayer(keep), topK);
                    ExpertMask mask = mask(spec, kept);
                    byKeep.put(keep, evaluate(d, mask));
                    if (m == config.oodMethod()) {
                        oodMasks.computeIfAbsent(d.name(), k -> new TreeMap<>()).put(keep, mask);
                        oodKept.computeIfAbsent(d.name(), k -> new TreeMap<>()).put(keep, kept);
                    }
                }
                byMethod.put(m, byKeep);
                log.accept(String.format("  %-16s %s", m.cliName(), byKeep.entrySet().stream()
                        .map(e -> String.format("%d/%d: %.4f", e.getKey(), experts, e.getValue().loss())).toList()));
            }
            inDomain.put(d.name(), byMethod);
        }
        Map<String, Map<String, Map<Integer, Quality>>> ood = new LinkedHashMap<>();
        for (var maskDomain : oodMasks.entrySet()) {
            Map<String, Map<Integer, Quality>> byEval = new LinkedHashMap<>();
            for (DomainSplit other : splits.values()) {
                if (other.name().equals(maskDomain.getKey())) continue;
                Map<Integer, Quality> byKeep = new TreeMap<>();
                maskDomain.getValue().forEach((keep, mask) -> byKeep.put(keep, evaluate(other, mask)));
                byEval.put(other.name(), byKeep);
            }
            ood.put(maskDomain.getKey(), byEval);
            log.accept(String.format("%s %s masks evaluated on the other domains", maskDomain.getKey(), config.oodMethod().cliName()));
        }
        return new StudyResult(new ArrayList<>(splits.keySet()), experts, full, inDomain, ood, importance, evalTokens,
                demoTokens, config.oodMethod(), config.keeps(), config.methods(), oodKept, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * The runtime mask that keeps {@code kept[i]} in MoE layer i, routing expert groups as select's default strategy
     * (nogroup), which is what the report prunes.
     */
    public static ExpertMask mask(ModelSpec spec, int[][] kept) {
        Map<Integer, int[]> byLayer = new HashMap<>();
        List<Integer> layers = spec.moeLayers();
        for (int i = 0; i < layers.size(); i++) byLayer.put(layers.get(i), kept[i]);
        return ExpertMask.of(byLayer, spec.moe().numExperts(), GroupStrategy.NOGROUP);
    }

    private Quality evaluate(DomainSplit d, ExpertMask mask) {
        return evaluate(model, d.evalIds(), mask, config.maxEvalTokens());
    }

    /**
     * Next-token quality of a model (optionally masked) on whole tokenised documents, scored in rolling windows of
     * {@code window} tokens (RollingWindows), all windows of all documents in one layer-major pass: the one
     * evaluation every table uses.
     */
    public static Quality evaluate(Model model, List<int[]> docs, ExpertMask mask, int window) {
        List<int[]> pieces = new ArrayList<>();
        List<Integer> from = new ArrayList<>();
        for (int[] ids : docs) {
            for (RollingWindows w : RollingWindows.of(ids.length, window)) {
                pieces.add(Arrays.copyOfRange(ids, w.start(), w.end()));
                from.add(w.from());
            }
        }
        double nll = 0;
        long predicted = 0, hits = 0;
        int[] starts = from.stream().mapToInt(Integer::intValue).toArray();
        for (Perplexity.Span s : new Perplexity(model, mask).scoreAllFrom(pieces, starts, LayerMajorListener.NONE)) {
            nll += s.nll();
            predicted += s.predicted();
            hits += s.hits();
        }
        return new Quality(nll / Math.max(predicted, 1), (double) hits / Math.max(predicted, 1), predicted);
    }
}
