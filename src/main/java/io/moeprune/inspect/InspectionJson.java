package io.moeprune.inspect;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.model.AttentionSpec;
import io.moeprune.model.ExpectedTensor;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.Quantization;
import io.moeprune.model.RopeSpec;
import io.moeprune.model.TensorCategory;
import io.moeprune.provenance.ProvenanceFile;

import java.util.List;
import java.util.Locale;

/**
 * The {@code moeprune inspect --json} object. Its keys are stable (snake_case, documented in README.md); numbers
 * are exact (parameters and bytes as integers). Optional parts are JSON null, never left out.
 */
public final class InspectionJson {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private InspectionJson() {
    }

    public static ObjectNode of(Inspection in) {
        ModelSpec s = in.spec();
        ObjectNode root = F.objectNode();
        root.put("model", in.dir().toString());
        root.put("architecture", s.architecture());
        root.put("model_type", s.family().modelType());
        root.put("vocab_size", s.vocabSize());
        root.put("hidden_size", s.hiddenSize());
        root.put("tie_word_embeddings", s.tieWordEmbeddings());
        root.put("rms_norm_eps", s.rmsNormEps());

        ObjectNode layers = root.putObject("layers");
        layers.put("count", s.numLayers());
        ints(layers.putArray("moe"), s.moeLayers());
        ints(layers.putArray("dense"), Describe.denseLayers(s));
        ints(layers.putArray("sliding_window"), Describe.slidingLayers(s));
        layers.put("dense_intermediate_size", s.denseIntermediateSize());
        layers.put("mtp_layers", s.mtpLayers());

        root.set("attention", attention(s.attention()));
        root.set("rope", rope(s.rope()));
        root.set("moe", moe(s));
        ModelSpec.Scaling sc = s.scaling();
        if (sc == ModelSpec.Scaling.NONE) {
            root.putNull("multipliers");
        } else {
            ObjectNode m = root.putObject("multipliers");
            m.put("embedding", sc.embedding());
            m.put("residual", sc.residual());
            m.put("logits_divisor", sc.logitsDivisor());
            m.put("attention", sc.attention());
        }
        root.set("quantization", quantization(s.quantization()));

        ParameterAccounting a = in.accounting();
        ObjectNode p = root.putObject("parameters");
        p.put("total", a.total());
        p.put("active_per_token", a.activePerToken());
        p.put("routed_experts", a.routedExperts());
        p.put("per_expert", a.perExpert());
        ObjectNode pc = p.putObject("by_category");
        for (TensorCategory c : TensorCategory.values()) pc.put(key(c), a.parameters().get(c));
        ObjectNode b = root.putObject("bytes");
        b.put("total", a.totalBytes());
        ObjectNode bc = b.putObject("by_category");
        for (TensorCategory c : TensorCategory.values()) bc.put(key(c), a.bytes().get(c));
        ArrayNode proj = root.putArray("projections");
        for (ParameterAccounting.Projection x : a.projections()) {
            ObjectNode o = proj.addObject();
            o.put("percent", x.percent());
            o.put("kept_experts", x.keptExperts());
            o.put("parameters", x.parameters());
            o.put("bytes", x.bytes());
        }

        if (in.provenance() == null) root.putNull("provenance");
        else root.set("provenance", ProvenanceFile.toJson(in.provenance()));

        TensorCheck c = in.check();
        ObjectNode ch = root.putObject("tensor_check");
        ch.put("passed", c.passes());
        ch.put("expected", c.expected());
        ch.put("found", c.found());
        ArrayNode missing = ch.putArray("missing");
        for (ExpectedTensor t : c.missing()) {
            ObjectNode o = missing.addObject();
            o.put("name", t.name());
            longs(o.putArray("shape"), t.shape());
        }
        ArrayNode wrong = ch.putArray("wrong_shape");
        for (TensorCheck.WrongShape w : c.wrongShape()) {
            ObjectNode o = wrong.addObject();
            o.put("name", w.name());
            longs(o.putArray("expected"), w.expected());
            longs(o.putArray("actual"), w.actual());
        }
        c.unexpected().forEach(ch.putArray("unexpected")::add);
        c.ignored().forEach(ch.putArray("ignored")::add);
        return root;
    }

    /** Category keys: embeddings_head, attention, router, routed_experts, shared_experts, dense_mlp, norms, other. */
    static String key(TensorCategory c) {
        return c.name().toLowerCase(Locale.ROOT);
    }

    private static ObjectNode attention(AttentionSpec a) {
        ObjectNode o = F.objectNode();
        o.put("kind", a.kind().name().toLowerCase(Locale.ROOT));
        o.put("heads", a.numHeads());
        o.put("kv_heads", a.numKvHeads());
        o.put("head_dim", a.headDim());
        o.put("value_head_dim", a.valueHeadDim());
        o.put("qk_norm", a.qkNorm().name().toLowerCase(Locale.ROOT));
        o.put("qkv_bias", a.qkvBias());
        o.put("output_bias", a.outputBias());
        o.put("sliding_window", a.slidingWindow());
        o.put("sinks", a.sinks());
        if (Float.isNaN(a.clipQkv())) o.putNull("clip_qkv");
        else o.put("clip_qkv", a.clipQkv());
        if (a.mla() == null) {
            o.putNull("mla");
        } else {
            ObjectNode m = o.putObject("mla");
            m.put("q_lora_rank", a.mla().qLoraRank());
            m.put("kv_lora_rank", a.mla().kvLoraRank());
            m.put("qk_nope_head_dim", a.mla().qkNopeHeadDim());
            m.put("qk_rope_head_dim", a.mla().qkRopeHeadDim());
            m.put("v_head_dim", a.mla().vHeadDim());
        }
        return o;
    }

    private static ObjectNode rope(RopeSpec r) {
        ObjectNode o = F.objectNode();
        o.put("type", r.type());
        o.put("theta", r.theta());
        o.put("factor", r.factor());
        o.put("original_max_positions", r.originalMaxPositions());
        o.put("beta_fast", r.betaFast());
        o.put("beta_slow", r.betaSlow());
        o.put("mscale", r.mscale());
        o.put("mscale_all_dim", r.mscaleAllDim());
        o.put("truncate", r.truncate());
        o.put("interleaved", r.interleaved());
        o.put("rotary_dim", r.rotaryDim());
        o.put("max_positions", r.maxPositions());
        return o;
    }

    private static ObjectNode moe(ModelSpec s) {
        MoeSpec m = s.moe();
        ObjectNode o = F.objectNode();
        o.put("experts", m.numExperts());
        o.put("expert_count_key", s.expertCountKey());
        o.put("top_k", m.topK());
        o.put("expert_intermediate_size", m.expertIntermediateSize());
        o.put("scoring", m.scoring().name().toLowerCase(Locale.ROOT));
        o.put("norm_topk_prob", m.normTopkProb());
        o.put("routed_scaling_factor", m.routedScalingFactor());
        if (m.groups().enabled()) {
            ObjectNode g = o.putObject("groups");
            g.put("n_group", m.groups().nGroup());
            g.put("topk_group", m.groups().topkGroup());
            g.put("score", m.groups().score().name().toLowerCase(Locale.ROOT));
        } else {
            o.putNull("groups");
        }
        o.put("selection_bias", m.selectionBias());
        o.put("router_bias", m.routerBias());
        ObjectNode sh = o.putObject("shared_experts");
        sh.put("count", m.sharedExperts());
        sh.put("intermediate_size", m.sharedIntermediateSize());
        sh.put("sigmoid_gate", m.sharedExpertGate());
        o.put("layout", m.layout().name().toLowerCase(Locale.ROOT));
        ObjectNode act = o.putObject("activation");
        act.put("kind", m.activation().kind().name().toLowerCase(Locale.ROOT));
        act.put("alpha", m.activation().alpha());
        if (Float.isInfinite(m.activation().limit())) act.putNull("limit");
        else act.put("limit", m.activation().limit());
        return o;
    }

    private static ObjectNode quantization(Quantization q) {
        ObjectNode o = F.objectNode();
        o.put("method", q.method().name().toLowerCase(Locale.ROOT));
        if (q.method() == Quantization.Method.FP8) {
            ArrayNode block = o.putArray("block_size");
            block.add(q.blockRows());
            block.add(q.blockCols());
        } else {
            o.putNull("block_size");
        }
        return o;
    }

    private static void ints(ArrayNode a, List<Integer> xs) {
        xs.forEach(a::add);
    }

    private static void longs(ArrayNode a, long[] xs) {
        for (long x : xs) a.add(x);
    }
}
