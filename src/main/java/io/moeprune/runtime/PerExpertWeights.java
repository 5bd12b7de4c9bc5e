package io.moeprune.runtime;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** One SwiGLU per expert, each with its own gate/up/down matrices (Qwen, OLMoE, Mixtral, DeepSeek). */
public record PerExpertWeights(List<SwiGlu> experts) implements ExpertWeights {
    @Override
    public int count() {
        return experts.size();
    }

    @Override
    public SwiGlu expert(int e) {
        return experts.get(e);
    }

    @Override
    public long expertBytes() {
        return experts.getFirst().byteSize();
    }

    /** Gate, up and down. */
    @Override
    public List<MemorySegment> expertMemory(int e) {
        SwiGlu s = experts.get(e);
        return List.of(s.gate().data(), s.up().data(), s.down().data());
    }

    @Override
    public ExpertWeights readingFrom(List<List<MemorySegment>> memory) {
        List<SwiGlu> moved = new ArrayList<>(experts.size());
        for (int e = 0; e < experts.size(); e++) {
            SwiGlu s = experts.get(e);
            List<MemorySegment> m = memory.get(e);
            moved.add(m == null ? s : new SwiGlu(s.gate().over(m.get(0)), s.up().over(m.get(1)), s.down().over(m.get(2))));
        }
        return new PerExpertWeights(List.copyOf(moved));
    }
}
