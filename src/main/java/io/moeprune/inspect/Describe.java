package io.moeprune.inspect;

import io.moeprune.model.AttentionSpec;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.Quantization;
import io.moeprune.model.RopeSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/** Short human-readable phrases for parts of a {@link ModelSpec}, shared by the text report. */
final class Describe {
    private Describe() {
    }

    static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /** 1536 -> "1.5 KiB", binary units, one decimal. */
    static String bytes(long b) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? b + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    static String percent(long part, long whole) {
        return whole == 0 ? "-" : String.format(Locale.ROOT, "%.1f %%", 100.0 * part / whole);
    }

    /** [0,1,2,5,7,8] -> "0-2, 5, 7-8"; empty -> "none". */
    static String ranges(List<Integer> xs) {
        if (xs.isEmpty()) return "none";
        List<String> parts = new ArrayList<>();
        int start = xs.getFirst(), prev = start;
        for (int i = 1; i <= xs.size(); i++) {
            if (i < xs.size() && xs.get(i) == prev + 1) {
                prev = xs.get(i);
                continue;
            }
            parts.add(start == prev ? Integer.toString(start) : start + "-" + prev);
            if (i < xs.size()) start = prev = xs.get(i);
        }
        return String.join(", ", parts);
    }

    static List<Integer> denseLayers(ModelSpec s) {
        return IntStream.range(0, s.numLayers()).filter(i -> !s.isMoeLayer(i)).boxed().toList();
    }

    static List<Integer> slidingLayers(ModelSpec s) {
        return IntStream.range(0, s.numLayers()).filter(i -> s.layers().get(i).slidingWindow()).boxed().toList();
    }

    static String attention(ModelSpec s) {
        AttentionSpec a = s.attention();
        StringBuilder b = new StringBuilder();
        if (a.kind() == AttentionSpec.Kind.MLA) {
            AttentionSpec.Mla m = a.mla();
            b.append("MLA, ").append(a.numHeads()).append(" heads, q_lora_rank ")
                    .append(m.qLoraRank() == 0 ? "none" : Integer.toString(m.qLoraRank()))
                    .append(", kv_lora_rank ").append(m.kvLoraRank()).append(", qk ").append(m.qkNopeHeadDim())
                    .append(" nope + ").append(m.qkRopeHeadDim()).append(" rope, v ").append(m.vHeadDim());
        } else {
            b.append(a.numKvHeads() == a.numHeads() ? "MHA, " : a.numKvHeads() == 1 ? "MQA, " : "GQA, ")
                    .append(a.numHeads()).append(" heads, ").append(a.numKvHeads()).append(" KV heads, head_dim ")
                    .append(a.headDim());
        }
        switch (a.qkNorm()) {
            case PER_HEAD -> b.append(", q/k RMSNorm per head");
            case FULL -> b.append(", q/k RMSNorm over all heads");
            case NONE -> {
            }
        }
        if (a.qkvBias()) b.append(a.outputBias() ? ", q/k/v/o biases" : ", q/k/v biases");
        if (a.sinks()) b.append(", sinks");
        if (a.slidingWindow() > 0) b.append(", sliding window ").append(a.slidingWindow());
        if (!Float.isNaN(a.clipQkv())) b.append(", clip_qkv ").append(a.clipQkv());
        if (s.scaling().overridesAttentionScale()) b.append(", score scale ").append(s.scaling().attention());
        return b.toString();
    }

    static String rope(RopeSpec r) {
        StringBuilder b = new StringBuilder(r.type()).append(", theta ").append(number(r.theta()));
        if (!r.type().equals("default")) {
            b.append(", factor ").append(number(r.factor()));
            if (r.originalMaxPositions() > 0) b.append(", original context ").append(r.originalMaxPositions());
        }
        if (r.interleaved()) b.append(", interleaved pairs");
        b.append(", ").append(r.rotaryDim()).append(" rotary dims, max positions ").append(r.maxPositions());
        return b.toString();
    }

    static String routing(MoeSpec m) {
        StringBuilder b = new StringBuilder(switch (m.scoring()) {
            case SOFTMAX -> "softmax over all experts, top-" + m.topK();
            case SOFTMAX_TOPK -> "top-" + m.topK() + " of router logits, softmax over the chosen";
            case SIGMOID -> "sigmoid scores, top-" + m.topK();
        });
        if (m.selectionBias()) b.append(" chosen with e_score_correction_bias");
        if (m.groups().enabled()) {
            b.append(", within the best ").append(m.groups().topkGroup()).append(" of ").append(m.groups().nGroup())
                    .append(" groups (group score ").append(m.groups().score() == MoeSpec.Groups.GroupScore.MAX
                            ? "max" : "sum of top 2").append(")");
        }
        if (m.scoring() != MoeSpec.Scoring.SOFTMAX_TOPK) b.append(m.normTopkProb() ? ", renormalised" : ", not renormalised");
        if (m.routedScalingFactor() != 1f) b.append(", x ").append(number(m.routedScalingFactor()));
        if (m.routerBias()) b.append(", router bias");
        return b.toString();
    }

    static String shared(MoeSpec m) {
        if (m.sharedExperts() == 0) return "none";
        String s = m.sharedExperts() + " (intermediate " + m.sharedIntermediateSize() + ")";
        return m.sharedExpertGate() ? s + ", output x sigmoid(shared_expert_gate)" : s;
    }

    static String layout(MoeSpec m) {
        return switch (m.layout()) {
            case PER_EXPERT -> "one gate/up/down matrix per expert";
            case FUSED_GATE_UP_INTERLEAVED -> "fused gate_up_proj [E,H,2I] (interleaved) and down_proj [E,I,H] with biases";
            case FUSED_INPUT_OUTPUT -> "fused input_linear [E,2I,H] and output_linear [E,H,I]";
        };
    }

    static String activation(MoeSpec.Activation a) {
        return a.kind() == MoeSpec.Activation.Kind.SWIGLU ? "SwiGLU"
                : "clamped SwiGLU (alpha " + number(a.alpha()) + ", limit " + number(a.limit()) + ")";
    }

    static String quantization(Quantization q) {
        return switch (q.method()) {
            case NONE -> "none";
            case FP8 -> "FP8, " + q.blockRows() + "x" + q.blockCols() + " block scales (weight_scale_inv)";
            case MXFP4 -> "MXFP4 routed experts (_blocks + _scales)";
        };
    }

    static String number(float f) {
        if (f == Math.rint(f) && Math.abs(f) < 1e7) return Long.toString((long) f);
        return Float.toString(f);
    }

    static String number(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
        return Double.toString(d);
    }
}
