package io.moeprune.runtime.family;

import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.AttentionLayer;
import io.moeprune.runtime.ExpertWeights;
import io.moeprune.runtime.Router;
import io.moeprune.runtime.WeightSource;

/**
 * What differs between model families at run time: how a layer's attention and routed experts are built from
 * the checkpoint, and how routing is done. Everything else (norms, residuals, MoE dispatch, dense MLPs, LM head)
 * is shared in {@link io.moeprune.runtime.ModelLoader}. A new family adds one small implementation here
 * (e.g. DeepSeek: an MLA attention; gpt-oss / GraniteMoE: fused expert tensors) and a line in {@link Families}.
 */
public interface FamilyRuntime {

    AttentionLayer attention(ModelSpec spec, WeightSource weights, int layer);

    ExpertWeights experts(ModelSpec spec, WeightSource weights, int layer);

    default Router router(ModelSpec spec, WeightSource weights, int layer) {
        String bias = spec.moe().selectionBias() ? io.moeprune.model.TensorNames.format(spec.names().selectionBias(), layer) : null;
        return new Router(spec.moe(), bias == null ? null : weights.vector(bias, spec.moe().numExperts()));
    }
}
