package io.moeprune.patterns;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.runtime.Model;
import io.moeprune.select.Budget;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.ExpertSelector;
import io.moeprune.select.Method;

import java.util.EnumSet;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Makes one task's pattern: calibrates on its demonstrations, keeps the {@code keep} best experts of every MoE layer
 * by {@code method} (what `moeprune select --budget per-layer` does), and reads every signature kind over the same
 * tokens.
 */
public final class PatternBuilder {
    private final Model model;
    private final StoreInfo store;

    public PatternBuilder(Model model, StoreInfo store) {
        this.model = model;
        this.store = store;
    }

    /** The pattern and the statistics it was selected from. */
    public record Built(TaskPattern pattern, ExpertStats stats) {
    }

    public Built build(String task, List<int[]> demos, List<String> texts, Method method, int keep, IntConsumer progress) {
        ExpertStats stats = new Calibrator(model).run(demos, texts, store.fingerprint(), task, progress);
        Budget budget = Budget.perLayer(keep);
        int[][] kept = ExpertSelector.select(method.scores(stats, 0), budget, store.topK());
        ExpertMask mask = new ExpertMask(store.fingerprint(), store.family(), store.numExperts(), store.topK(),
                store.moeLayers(), kept, method.cliName(), budget.describe(),
                List.of(new ExpertMask.DomainRef(task, 1.0, stats.numDemos(), stats.totalTokens())));
        Signatures signatures = new SignatureReader(model, store.depth(), EnumSet.allOf(SignatureKind.class)).read(demos);
        return new Built(new TaskPattern(task, mask, signatures), stats);
    }
}
