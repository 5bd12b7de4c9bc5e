package io.moeprune.serve;

import io.moeprune.eval.MaskLoader;
import io.moeprune.patterns.PatternMatcher;
import io.moeprune.patterns.PatternStore;
import io.moeprune.patterns.SignatureReader;
import io.moeprune.patterns.TaskPattern;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which experts a request runs with: all of them, one fixed mask (--mask), or the pattern of a store (--patterns)
 * that the request names or whose signature is nearest to its prompt's.
 */
public final class ExpertRouting {
    private final Path modelDir;
    private final Model model;
    private final ExpertMask fixed;
    private final PatternStore store;
    private final List<TaskPattern> patterns;
    private final SignatureReader reader;
    private final Map<String, ExpertMask> masks = new ConcurrentHashMap<>();

    private ExpertRouting(Path modelDir, Model model, ExpertMask fixed, PatternStore store) {
        this.modelDir = modelDir;
        this.model = model;
        this.fixed = fixed;
        this.store = store;
        this.patterns = store == null ? List.of() : store.readAll();
        this.reader = store == null ? null
                : new SignatureReader(model, store.info().depth(), Set.of(store.info().defaultKind()));
    }

    public static ExpertRouting all(Path modelDir, Model model) {
        return new ExpertRouting(modelDir, model, ExpertMask.NONE, null);
    }

    public static ExpertRouting mask(Path modelDir, Model model, Path maskFile) {
        return new ExpertRouting(modelDir, model, MaskLoader.load(maskFile, modelDir, model.spec()), null);
    }

    /** The store must be the model's (checked by the caller through its fingerprint). */
    public static ExpertRouting patterns(Path modelDir, Model model, PatternStore store) {
        return new ExpertRouting(modelDir, model, ExpertMask.NONE, store);
    }

    /** Stored task names (empty without a store). */
    public List<String> tasks() {
        return patterns.stream().map(TaskPattern::name).toList();
    }

    /** The chosen pattern (null without a store) and the mask to run with. */
    public record Choice(String task, ExpertMask mask) {
    }

    /** {@code named} is the task the request asks for, or null to match the prompt. */
    public Choice choose(String named, int[] prompt) {
        if (store == null) return new Choice(null, fixed);
        String task = named != null ? named
                : PatternMatcher.rank(patterns, reader.read(List.of(prompt)), store.info().defaultKind()).getFirst().task();
        return new Choice(task, masks.computeIfAbsent(task, t -> MaskLoader.load(store.taskDir(t).resolve(PatternStore.MASK),
                modelDir, model.spec())));
    }
}
