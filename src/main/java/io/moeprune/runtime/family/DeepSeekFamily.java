package io.moeprune.runtime.family;

import io.moeprune.MoepruneException;
import io.moeprune.model.AttentionSpec;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.RopeSpec;
import io.moeprune.model.TensorNames;
import io.moeprune.runtime.AttentionLayer;
import io.moeprune.runtime.ExpertWeights;
import io.moeprune.runtime.MlaAttention;
import io.moeprune.runtime.RmsNorm;
import io.moeprune.runtime.Rope;
import io.moeprune.runtime.WeightSource;

/**
 * DeepSeek-V2 and V3: MLA attention; experts, shared experts and routing (softmax + group max for V2, sigmoid +
 * selection bias + group top-2 sums for V3, routed scaling) are the generic ones driven by the ModelSpec.
 */
public final class DeepSeekFamily implements FamilyRuntime {
    public static final DeepSeekFamily INSTANCE = new DeepSeekFamily();

    private DeepSeekFamily() {
    }

    @Override
    public AttentionLayer attention(ModelSpec spec, WeightSource w, int layer) {
        AttentionSpec a = spec.attention();
        AttentionSpec.Mla m = a.mla();
        if (a.kind() != AttentionSpec.Kind.MLA || m == null) {
            throw new MoepruneException(spec.family().modelType() + ": expected MLA attention");
        }
        String p = TensorNames.format(spec.names().attentionPrefix(), layer);
        if (!p.endsWith(".")) p = p + ".";
        float eps = spec.rmsNormEps();
        String bias = a.qkvBias() ? ".bias" : null;
        var q = m.qLoraRank() > 0 ? null : w.linear(p + "q_proj.weight", null);
        var qA = m.qLoraRank() > 0 ? w.linear(p + "q_a_proj.weight", bias == null ? null : p + "q_a_proj.bias") : null;
        var qANorm = m.qLoraRank() > 0 ? new RmsNorm(w.vector(p + "q_a_layernorm.weight", m.qLoraRank()), eps) : null;
        var qB = m.qLoraRank() > 0 ? w.linear(p + "q_b_proj.weight", null) : null;
        var kvA = w.linear(p + "kv_a_proj_with_mqa.weight", bias == null ? null : p + "kv_a_proj_with_mqa.bias");
        var kvANorm = new RmsNorm(w.vector(p + "kv_a_layernorm.weight", m.kvLoraRank()), eps);
        var kvB = w.linear(p + "kv_b_proj.weight", null);
        var o = w.linear(p + "o_proj.weight", a.outputBias() ? p + "o_proj.bias" : null);
        RopeSpec r = spec.rope();
        RopeSpec ropeOfKeys = new RopeSpec(r.type(), r.theta(), r.factor(), r.originalMaxPositions(), r.betaFast(),
                r.betaSlow(), r.mscale(), r.mscaleAllDim(), r.truncate(), r.interleaved(), m.qkRopeHeadDim(),
                r.maxPositions());
        int qkDim = m.qkNopeHeadDim() + m.qkRopeHeadDim();
        double scale = 1.0 / Math.sqrt(qkDim);
        if ("yarn".equals(r.type()) && r.mscaleAllDim() != 0 && r.factor() > 1) {
            double ms = 0.1 * r.mscaleAllDim() * Math.log(r.factor()) + 1.0;
            scale *= ms * ms;
        }
        return new MlaAttention(a, q, qA, qANorm, qB, kvA, kvANorm, kvB, o, Rope.of(ropeOfKeys, m.qkRopeHeadDim()),
                (float) scale);
    }

    @Override
    public ExpertWeights experts(ModelSpec spec, WeightSource w, int layer) {
        return LlamaStyleFamily.INSTANCE.experts(spec, w, layer);
    }
}
