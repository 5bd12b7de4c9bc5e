package io.moeprune.runtime;

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
}
