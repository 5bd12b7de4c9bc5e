package io.moeprune.serve;

import io.moeprune.MoepruneException;
import io.moeprune.eval.MaskLoader;
import io.moeprune.patterns.PatternMatcher;
import io.moeprune.patterns.PatternStore;
import io.moeprune.patterns.SignatureReader;
import io.moeprune.patterns.TaskPattern;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * Which experts a request runs with: all of them, one fixed mask (--mask), or the pattern of a store (--patterns)
 * that the request names or whose signature is nearest to its prompt's. With a mask or a store on the CPU, the experts
 * they keep run from resident copies ({@link ExpertMemory}, bounded by --expert-memory): the layers a prompt's signature runs
 * in full (those before the signature's last router) keep their experts mapped, since matching reads them all. On a
 * GPU ({@link #onDevice}) nothing is copied: the device holds every weight.
 */
public final class ExpertRouting implements AutoCloseable {
    private final ExpertMask fixed;
    private final PatternStore store;
    private final List<TaskPattern> patterns;
    private final SignatureReader reader;
    /** Each task's mask, loaded at the start (the default budget and the size check need them all). */
    private final Map<String, ExpertMask> masks = new LinkedHashMap<>();
    private final ExpertMemory memory;
    private final LongAdder matchNanos = new LongAdder(), matches = new LongAdder();

    private ExpertRouting(Path modelDir, Model model, ExpertMask fixed, PatternStore store, Long budget, boolean resident) {
        this.fixed = fixed;
        this.store = store;
        this.patterns = store == null ? List.of() : store.readAll();
        this.reader = store == null ? null
                : new SignatureReader(model, store.info().depth(), Set.of(store.info().defaultKind()));
        for (TaskPattern p : patterns) {
            masks.put(p.name(), MaskLoader.load(store.taskDir(p.name()).resolve(PatternStore.MASK), modelDir, model.spec()));
        }
        this.memory = resident ? memory(model, budget) : null;
    }

    public static ExpertRouting all(Path modelDir, Model model) {
        return new ExpertRouting(modelDir, model, ExpertMask.NONE, null, null, false);
    }

    /** Every request with the mask of {@code maskFile}, its experts resident. */
    public static ExpertRouting mask(Path modelDir, Model model, Path maskFile) {
        return mask(modelDir, model, maskFile, null);
    }

    /** The same in at most {@code budget} bytes of resident experts (null: room for the whole mask). */
    public static ExpertRouting mask(Path modelDir, Model model, Path maskFile, Long budget) {
        return new ExpertRouting(modelDir, model, MaskLoader.load(maskFile, modelDir, model.spec()), null, budget, true);
    }

    /** The store must be the model's (checked by the caller through its fingerprint). Room for every pattern. */
    public static ExpertRouting patterns(Path modelDir, Model model, PatternStore store) {
        return patterns(modelDir, model, store, null);
    }

    /**
     * Patterns whose experts share at most {@code budget} bytes of resident memory (null: room for every pattern); a
     * pattern larger than the budget is refused here.
     */
    public static ExpertRouting patterns(Path modelDir, Model model, PatternStore store, Long budget) {
        return new ExpertRouting(modelDir, model, ExpertMask.NONE, store, budget, true);
    }

    /**
     * Routing for a model on the device ({@code serve --device cuda}): all experts, the mask of {@code maskFile}, or the
     * patterns of {@code store} (at most one of them non-null), without host-resident copies: the device holds every
     * weight already, and a step runs its expert set's mask there.
     */
    public static ExpertRouting onDevice(Path modelDir, Model model, Path maskFile, PatternStore store) {
        ExpertMask fixed = maskFile == null ? ExpertMask.NONE : MaskLoader.load(maskFile, modelDir, model.spec());
        return new ExpertRouting(modelDir, model, fixed, store, null, false);
    }

    /** The mask requests run with: the fixed one, or with a store its first pattern's (a first guess). */
    ExpertMask firstMask() {
        return masks.isEmpty() ? fixed : masks.values().iterator().next();
    }

    private ExpertMemory memory(Model model, Long budget) {
        List<Integer> moeLayers = model.spec().moeLayers();
        // Matching runs the MoE layers before the signature's last router in full: those stay mapped.
        int firstResident = reader == null ? moeLayers.getFirst() : moeLayers.get(reader.layersRead() - 1);
        List<Integer> resident = moeLayers.stream().filter(l -> l >= firstResident).toList();
        Map<String, ExpertMask> sets = store == null ? Map.of("mask", fixed) : masks;
        // Sizes first, on a throwaway view of the layers, so that a refused budget leaves the model as it was.
        ExpertMemory m = new ExpertMemory(model, resident, Long.MAX_VALUE);
        long room = budget != null ? budget : m.bytesOfAll(sets.values());
        for (Map.Entry<String, ExpertMask> s : sets.entrySet()) {
            long need = m.bytesOf(s.getValue());
            if (need > room) {
                m.close();
                throw new MoepruneException("--expert-memory " + mb(room) + " is smaller than the experts of "
                        + (store == null ? "the mask" : "pattern '" + s.getKey() + "'") + " (" + mb(need)
                        + "); give at least that");
            }
        }
        m.close();
        return new ExpertMemory(model, resident, room);
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    /** Stored task names (empty without a store). */
    public List<String> tasks() {
        return patterns.stream().map(TaskPattern::name).toList();
    }

    /** The resident experts (null when every expert is served from the mapped checkpoint). */
    ExpertMemory memory() {
        return memory;
    }

    /**
     * Bytes every routed expert of the layers whose experts are resident would take there (the full model's, to compare
     * the resident bytes with); -1 without resident experts.
     */
    public long residentLayersFullBytes() {
        return memory == null ? -1 : memory.fullBytes();
    }

    /** Bytes of resident experts allowed (-1 without resident experts). */
    public long expertMemoryBudget() {
        return memory == null ? -1 : memory.budget();
    }

    /** Prompts matched to a pattern so far, and the nanoseconds spent matching them. */
    record MatchCounts(long matches, long nanos) {
    }

    MatchCounts matchCounts() {
        return new MatchCounts(matches.sum(), matchNanos.sum());
    }

    /** The chosen pattern (null without a store) and the mask to run with. */
    public record Choice(String task, ExpertMask mask) {
    }

    /** {@code named} is the task the request asks for, or null to match the prompt. */
    public Choice choose(String named, int[] prompt) {
        if (store == null) return new Choice(null, fixed);
        String task = named;
        if (task == null) {
            long t0 = System.nanoTime();
            task = PatternMatcher.rank(patterns, reader.read(List.of(prompt)), store.info().defaultKind()).getFirst().task();
            matchNanos.add(System.nanoTime() - t0);
            matches.increment();
        }
        return new Choice(task, masks.get(task));
    }

    /** Every resident copy is freed and the model reads its mapped experts again. */
    @Override
    public void close() {
        if (memory != null) memory.close();
    }
}
