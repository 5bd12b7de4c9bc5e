package io.moeprune.runtime;

import java.util.List;

/** One SwiGLU per expert, each with its own gate/up/down matrices (Qwen, OLMoE, Mixtral, DeepSeek). */
public record PerExpertWeights(List<SwiGlu> experts) implements ExpertWeights {
    @Override
    public int count() {
        return experts.size();
    }

    @Override
    public void apply(int e, float[] x, int n, float[] out) {
        experts.get(e).apply(x, n, out);
    }

    @Override
    public long expertBytes() {
        SwiGlu s = experts.getFirst();
        return s.gate().byteSize() + s.up().byteSize() + s.down().byteSize();
    }
}
