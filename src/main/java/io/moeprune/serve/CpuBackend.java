package io.moeprune.serve;

import io.moeprune.runtime.BatchedDecode;
import io.moeprune.runtime.BatchedPrefill;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The CPU runtime's sequences: a KV cache in host memory each ({@link InferenceState}); the prompts of a group
 * prefilled in one pass ({@link BatchedPrefill}: the experts read once for all of them), a group's decode step in one
 * batched pass ({@link BatchedDecode}), a single sequence through the model's own forward and decode.
 */
final class CpuBackend implements ServeBackend {
    private final Model model;
    private final Map<Sequence, InferenceState> states = new HashMap<>();

    CpuBackend(Model model) {
        this.model = model;
    }

    @Override
    public boolean open(Sequence s) {
        states.put(s, model.newState(s.positions()).withMask(s.mask));
        return true;
    }

    @Override
    public float[][] prefill(List<Sequence> group) {
        if (group.size() == 1) return new float[][]{model.forward(group.getFirst().prompt, state(group.getFirst()), false)};
        return BatchedPrefill.run(model, group.stream().map(q -> q.prompt).toList(), group.stream().map(this::state).toList());
    }

    @Override
    public void reset(Sequence s) {
        open(s);
    }

    @Override
    public float[][] decode(List<Sequence> group) {
        if (group.size() == 1) return new float[][]{model.decode(group.getFirst().last, state(group.getFirst()))};
        return BatchedDecode.step(model, group.stream().mapToInt(q -> q.last).toArray(),
                group.stream().map(this::state).toList());
    }

    private InferenceState state(Sequence s) {
        return states.get(s);
    }

    @Override
    public void release(Sequence s) {
        states.remove(s);
    }

    @Override
    public void close() {
        states.clear();
    }
}
