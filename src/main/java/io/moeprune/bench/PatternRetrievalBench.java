package io.moeprune.bench;

import io.moeprune.eval.MaskLoader;
import io.moeprune.patterns.ConfusionMatrix;
import io.moeprune.patterns.PatternMatcher;
import io.moeprune.patterns.PatternStore;
import io.moeprune.patterns.SignatureKind;
import io.moeprune.patterns.SignatureReader;
import io.moeprune.patterns.Signatures;
import io.moeprune.patterns.TaskPattern;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Perplexity;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The retrieval check of docs/patterns.md. A store built by `patterns build` from each domain's first D development
 * documents (one task per domain, named after it); prompts are the first T tokens of the next P documents of each
 * domain. Prints the accuracy of every signature kind at several depths (the deeper vectors' leading layers are the
 * shallower ones, so one pass over all MoE layers serves every depth), the confusion matrix of each kind's best depth,
 * and the held-out loss (first L tokens of each prompt document) with the domain's own pattern, the retrieved one
 * (store default signature), the nearest wrong one, and the full model; then the time to sign a prompt.
 * Usage: bench/run patternRetrieval MODEL DATA_DIR STORE [demos=8] [prompts=16] [promptTokens=256] [lossTokens=512]
 */
public final class PatternRetrievalBench {
    public static void main(String[] args) throws Exception {
        Path modelDir = Path.of(args[0]), data = Path.of(args[1]);
        PatternStore store = PatternStore.open(Path.of(args[2]));
        int demos = arg(args, 3, 8), perDomain = arg(args, 4, 16), promptTokens = arg(args, 5, 256), lossTokens = arg(args, 6, 512);
        List<TaskPattern> patterns = store.readAll();
        List<String> domains = patterns.stream().map(TaskPattern::name).toList();
        Tokenizer tok = Tokenizers.load(modelDir);
        List<String> labels = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>(), lossDocs = new ArrayList<>();
        Map<String, List<int[]>> demoIds = new LinkedHashMap<>();
        for (String d : domains) {
            List<String> texts = Documents.read(data.resolve(d + ".dev.jsonl"), DocumentForms.of(null, null));
            demoIds.put(d, texts.subList(0, demos).stream().map(t -> cut(tok.encode(t), 2048)).toList());
            for (String t : texts.subList(demos, Math.min(texts.size(), demos + perDomain))) {
                int[] ids = tok.encode(t);
                labels.add(d);
                prompts.add(cut(ids, promptTokens));
                lossDocs.add(cut(ids, lossTokens));
            }
        }
        System.out.printf(Locale.ROOT, "%d domains, %d demos each, %d prompts (first %d tokens), keep per store masks%n",
                domains.size(), demos, prompts.size(), promptTokens);
        try (Model m = Models.open(modelDir)) {
            int layers = m.spec().moeLayers().size();
            SignatureReader all = new SignatureReader(m, layers, EnumSet.allOf(SignatureKind.class));
            Map<String, Signatures> taskSigs = new LinkedHashMap<>();
            for (String d : domains) taskSigs.put(d, all.read(demoIds.get(d)));
            List<Signatures> promptSigs = prompts.stream().map(p -> all.read(List.of(p))).toList();

            System.out.printf(Locale.ROOT, "%n| signature | distance | MoE layers read | accuracy |%n|---|---|---:|---:|%n");
            Map<SignatureKind, ConfusionMatrix> best = new LinkedHashMap<>();
            Map<SignatureKind, Integer> bestDepth = new LinkedHashMap<>();
            for (SignatureKind k : SignatureKind.values()) {
                for (int depth : k == SignatureKind.PREMOE ? new int[]{1} : new int[]{1, 2, 3, 4, layers}) {
                    if (depth > layers) continue;
                    List<TaskPattern> truncated = new ArrayList<>();
                    for (String d : domains) truncated.add(new TaskPattern(d, null, prefix(taskSigs.get(d), k, depth, m)));
                    ConfusionMatrix cm = new ConfusionMatrix();
                    for (int i = 0; i < prompts.size(); i++) {
                        cm.add(labels.get(i), PatternMatcher.rank(truncated, prefix(promptSigs.get(i), k, depth, m), k).getFirst().task());
                    }
                    System.out.printf(Locale.ROOT, "| %s | %s | %d | %.1f %% (%d/%d) |%n", k.cliName(),
                            k.distance().cliName(), depth, 100 * cm.accuracy(), cm.correct(), cm.total());
                    if (!best.containsKey(k) || cm.accuracy() > best.get(k).accuracy()) {
                        best.put(k, cm);
                        bestDepth.put(k, depth);
                    }
                }
            }
            for (var e : best.entrySet()) {
                System.out.printf(Locale.ROOT, "%n%s, %d MoE layers:%n%n%s", e.getKey().cliName(), bestDepth.get(e.getKey()),
                        e.getValue().markdown());
            }
            losses(m, modelDir, store, patterns, labels, prompts, lossDocs, domains);
            timing(m, store, prompts);
        }
    }

    /** Held-out loss per domain with its own, the retrieved, the nearest wrong pattern and no mask. */
    private static void losses(Model m, Path modelDir, PatternStore store, List<TaskPattern> patterns, List<String> labels,
                               List<int[]> prompts, List<int[]> docs, List<String> domains) {
        SignatureKind kind = store.info().defaultKind();
        SignatureReader reader = new SignatureReader(m, store.info().depth(), Set.of(kind));
        Map<String, Perplexity> byTask = new LinkedHashMap<>();
        for (String d : domains) {
            ExpertMask mask = MaskLoader.load(store.taskDir(d).resolve(PatternStore.MASK), modelDir, m.spec());
            byTask.put(d, new Perplexity(m, mask));
        }
        Perplexity full = new Perplexity(m, ExpertMask.NONE);
        Map<String, double[]> sums = new LinkedHashMap<>();    // own, retrieved, nearest wrong, full, predicted
        for (int i = 0; i < prompts.size(); i++) {
            String own = labels.get(i);
            List<PatternMatcher.Match> ranking = PatternMatcher.rank(patterns, reader.read(List.of(prompts.get(i))), kind);
            String retrieved = ranking.getFirst().task();
            String wrong = ranking.stream().map(PatternMatcher.Match::task).filter(t -> !t.equals(own)).findFirst().orElseThrow();
            Perplexity.DocScore o = byTask.get(own).score(docs.get(i));
            double r = retrieved.equals(own) ? o.nll() : byTask.get(retrieved).score(docs.get(i)).nll();
            double[] s = sums.computeIfAbsent(own, k -> new double[5]);
            s[0] += o.nll();
            s[1] += r;
            s[2] += byTask.get(wrong).score(docs.get(i)).nll();
            s[3] += full.score(docs.get(i)).nll();
            s[4] += o.predicted();
        }
        System.out.printf(Locale.ROOT, "%nHeld-out loss (nats/token), retrieval by %s over %d MoE layers:%n%n"
                + "| domain | own pattern | retrieved | vs own | nearest wrong | vs own | full model |%n"
                + "|---|---:|---:|---:|---:|---:|---:|%n", kind.cliName(), store.info().depth());
        double[] tot = new double[5];
        for (var e : sums.entrySet()) {
            row(e.getKey(), e.getValue());
            for (int j = 0; j < 5; j++) tot[j] += e.getValue()[j];
        }
        row("all", tot);
    }

    private static void row(String name, double[] s) {
        double own = s[0] / s[4], ret = s[1] / s[4], wrong = s[2] / s[4], full = s[3] / s[4];
        System.out.printf(Locale.ROOT, "| %s | %.4f | %.4f | %+.2f %% | %.4f | %+.2f %% | %.4f |%n", name, own, ret,
                100 * (ret / own - 1), wrong, 100 * (wrong / own - 1), full);
    }

    /** Time to sign a prompt with the store's default kind against a full-model prefill of the same tokens. */
    private static void timing(Model m, PatternStore store, List<int[]> prompts) {
        SignatureReader reader = new SignatureReader(m, store.info().depth(), Set.of(store.info().defaultKind()));
        for (int warm = 0; warm < 2; warm++) {
            long t0 = System.nanoTime();
            for (int[] p : prompts) reader.read(List.of(p));
            long t1 = System.nanoTime();
            for (int[] p : prompts) m.forward(p, m.newState(p.length), false);
            long t2 = System.nanoTime();
            if (warm == 1) {
                System.out.printf(Locale.ROOT, "%nsign a prompt (%s, %d MoE layers): %.1f ms; full prefill: %.1f ms%n",
                        store.info().defaultKind().cliName(), reader.layersRead(), (t1 - t0) / 1e6 / prompts.size(),
                        (t2 - t1) / 1e6 / prompts.size());
            }
        }
    }

    /** The signature restricted to its first {@code depth} MoE layers (PreMoe's reads only one). */
    private static Signatures prefix(Signatures s, SignatureKind k, int depth, Model m) {
        int width = switch (k) {
            case PREMOE -> m.spec().moe().numExperts();
            case ROUTER_PROBS -> depth * m.spec().moe().numExperts();
            case HIDDEN -> depth * m.spec().hiddenSize();
        };
        return new Signatures(depth, s.tokens(), Map.of(k, Arrays.copyOf(s.of(k), width)));
    }

    private static int[] cut(int[] ids, int max) {
        return Arrays.copyOf(ids, Math.min(ids.length, max));
    }

    private static int arg(String[] args, int i, int dflt) {
        return args.length > i ? Integer.parseInt(args[i]) : dflt;
    }
}
