package io.moeprune.inspect;

import io.moeprune.MoepruneException;
import io.moeprune.model.ExpectedTensor;
import io.moeprune.model.ExpectedTensors;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.TensorInfo;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compares a checkpoint with the tensors its config implies.
 *
 * @param expected   how many tensors the config implies
 * @param found      how many of them the checkpoint holds with an acceptable shape
 * @param missing    implied tensors the checkpoint lacks
 * @param wrongShape tensors present with another shape
 * @param unexpected checkpoint tensors the config does not explain (reported, but not a failure)
 * @param ignored    checkpoint tensors that are legitimate but unused (DeepSeek MTP layers, rotary buffers)
 */
public record TensorCheck(int expected, int found, List<ExpectedTensor> missing, List<WrongShape> wrongShape,
                          List<String> unexpected, List<String> ignored) {

    /** A tensor whose stored shape differs from the implied one. */
    public record WrongShape(String name, long[] expected, long[] actual) {
    }

    /** True when nothing is missing and no shape is wrong; unexpected extra tensors do not fail the check. */
    public boolean passes() {
        return missing.isEmpty() && wrongShape.isEmpty();
    }

    /**
     * Refuses a checkpoint that fails the check, with inspect's reasons on one line: the runtime must never run
     * weights of the wrong shape (a transposed expert reads out of bounds, or silently runs wrong weights).
     */
    public void requirePasses(Path dir) {
        if (passes()) return;
        List<String> reasons = new ArrayList<>();
        missing.stream().limit(REASONS_SHOWN).forEach(t -> reasons.add("missing " + t.name()));
        wrongShape.stream().limit(REASONS_SHOWN).forEach(w -> reasons.add(w.name() + " is "
                + Arrays.toString(w.actual()) + ", expected " + Arrays.toString(w.expected())));
        int more = missing.size() + wrongShape.size() - reasons.size();
        throw MoepruneException.inFile(dir, "tensor check failed (" + missing.size() + " missing, "
                + wrongShape.size() + " wrong shape; 'moeprune inspect' lists them): " + String.join("; ", reasons)
                + (more > 0 ? "; and " + more + " more" : ""));
    }

    /** Reasons of each kind named in {@link #requirePasses}'s one line. */
    private static final int REASONS_SHOWN = 2;

    public static TensorCheck of(ModelSpec spec, Checkpoint checkpoint) {
        return of(spec, ExpectedTensors.byName(spec), checkpoint);
    }

    static TensorCheck of(ModelSpec spec, Map<String, ExpectedTensor> expected, Checkpoint checkpoint) {
        Set<String> names = checkpoint.names();
        List<ExpectedTensor> missing = new ArrayList<>();
        List<WrongShape> wrong = new ArrayList<>();
        int found = 0;
        for (ExpectedTensor t : expected.values()) {
            if (!names.contains(t.name())) {
                missing.add(t);
                continue;
            }
            TensorInfo info = checkpoint.info(t.name());
            if (t.accepts(info.shape())) found++;
            else wrong.add(new WrongShape(t.name(), t.shape(), info.shape()));
        }
        List<String> unexpected = new ArrayList<>();
        List<String> ignored = new ArrayList<>();
        for (String n : names) {
            if (expected.containsKey(n)) continue;
            if (ExpectedTensors.ignoredReason(spec, n) != null) ignored.add(n);
            else unexpected.add(n);
        }
        unexpected.sort(null);
        ignored.sort(null);
        return new TensorCheck(expected.size(), found, List.copyOf(missing), List.copyOf(wrong), List.copyOf(unexpected),
                List.copyOf(ignored));
    }
}
