package io.moeprune.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.moeprune.MoepruneException;
import io.moeprune.model.AttentionSpec.QkNorm;
import io.moeprune.model.MoeSpec.Activation;
import io.moeprune.model.MoeSpec.ExpertLayout;
import io.moeprune.model.MoeSpec.Groups;
import io.moeprune.model.MoeSpec.Scoring;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds a {@link ModelSpec} from a Hugging Face {@code config.json}. It understands the spellings of
 * transformers 5 ({@code rope_parameters}, {@code num_local_experts} for Qwen3-MoE) as well as the older ones
 * ({@code rope_theta} + {@code rope_scaling}, {@code num_experts}); where a key is absent the default of the
 * family's transformers configuration class applies.
 *
 * <p>Which layers are MoE: Qwen2/Qwen3-MoE: layer i is MoE when experts &gt; 0, i is not in {@code mlp_only_layers}
 * and (i+1) is a multiple of {@code decoder_sparse_step}; DeepSeek-V2/V3: i &ge; {@code first_k_dense_replace} and
 * i is a multiple of {@code moe_layer_freq}; OLMoE, Mixtral, gpt-oss, GraniteMoE: every layer.
 */
public final class ConfigReader {
    public static final String CONFIG = "config.json";

    /*
     * Sane bounds on sizes, checked before anything is allocated from them: a hostile config.json must end in a
     * one-line error, not an OutOfMemoryError or an hour of enumerating tensors. Each is far above any released
     * model (DeepSeek-V3: 61 layers x 256 experts, 7168 hidden, 129k vocabulary); a checkpoint that really is
     * larger can raise them.
     */
    static final int MAX_LAYERS = 4096;
    static final int MAX_EXPERTS = 16384;
    /** Layers x experts: bounds the per-expert tensors a config can imply (DeepSeek-V3: 15,616). */
    static final long MAX_LAYER_EXPERTS = 1 << 17;
    static final int MAX_WIDTH = 1 << 20;          // hidden, intermediate, head and LoRA sizes
    static final int MAX_VOCAB = 1 << 24;
    static final int MAX_HEADS = 8192;
    /** Rope types a config may name (transformers' ROPE_INIT_FUNCTIONS); the runtime implements some of them. */
    static final Set<String> ROPE_TYPES = Set.of("default", "linear", "dynamic", "yarn", "longrope", "llama3", "mrope");

    private static final ObjectMapper JSON =
            JsonMapper.builder().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    private ConfigReader() {
    }

    /** Reads {@code modelDir/config.json}. */
    public static ModelSpec read(Path modelDir) {
        if (!Files.isDirectory(modelDir)) {
            throw MoepruneException.inFile(modelDir, Files.exists(modelDir) ? "not a directory" : "model directory not found");
        }
        Path file = modelDir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "missing (every model directory needs a config.json)");
        String text;
        try {
            text = Files.readString(file);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw MoepruneException.inFile(file, "not valid UTF-8");
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "cannot be read: " + io.moeprune.io.IoErrors.reason(e));
        }
        return parse(text, file);
    }

    /** Parses config text; {@code file} is only used in error messages. */
    public static ModelSpec parse(String json, Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            String msg = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw MoepruneException.inFile(file, "not valid JSON: " + msg);
        }
        if (root == null || !root.isObject()) throw MoepruneException.inFile(file, "not a JSON object");
        return fromJson(new ConfigValues(file, root, ""));
    }

    static ModelSpec fromJson(ConfigValues c) {
        List<String> archs = c.optStringList("architectures");
        String architecture = archs.isEmpty() ? null : archs.getFirst();
        String modelType = c.optString("model_type", null);
        Family family = (modelType != null ? Family.fromModelType(modelType) : java.util.Optional.<Family>empty())
                .or(() -> architecture == null ? java.util.Optional.empty() : Family.fromArchitecture(architecture))
                .orElseThrow(() -> c.invalid("unsupported model (model_type " + quoteOrNone(modelType)
                        + ", architecture " + quoteOrNone(architecture) + "); supported: " + Family.supportedList()));
        String arch = architecture != null ? architecture : family.architecture();

        int vocab = c.requireInt("vocab_size", 1, MAX_VOCAB);
        int hidden = width(c, "hidden_size");
        int numLayers = c.requireInt("num_hidden_layers", 1, MAX_LAYERS);
        String act = c.optString("hidden_act", "silu");
        if (family != Family.GPT_OSS && !act.equals("silu") && !act.equals("swish")) {
            throw c.bad("hidden_act", "is '" + act + "'; only silu (SwiGLU) experts are supported");
        }

        String countKey = switch (family) {
            case DEEPSEEK_V2, DEEPSEEK_V3 -> c.firstPresent("n_routed_experts", "num_local_experts", "num_experts");
            case QWEN2_MOE, QWEN3_MOE, OLMOE -> c.firstPresent("num_experts", "num_local_experts", "n_routed_experts");
            default -> c.firstPresent("num_local_experts", "num_experts", "n_routed_experts");
        };
        if (countKey == null) throw c.missing("num_experts' or 'num_local_experts' or 'n_routed_experts");
        int numExperts = c.requireInt(countKey, 0, MAX_EXPERTS);
        if ((long) numExperts * numLayers > MAX_LAYER_EXPERTS) {
            throw c.bad(countKey, "is " + numExperts + "; with " + numLayers + " layers that is more than "
                    + MAX_LAYER_EXPERTS + " experts in all");
        }
        boolean qwen = family == Family.QWEN2_MOE || family == Family.QWEN3_MOE;
        if (numExperts == 0 && !qwen) throw c.bad(countKey, "is 0; a " + family.modelType() + " model needs experts");

        List<Boolean> moeLayer = moeLayers(c, family, numLayers, numExperts);
        boolean anyMoe = moeLayer.contains(true);
        // gpt-oss's original config also spells it experts_per_token
        String topKKey = c.firstPresent("num_experts_per_tok", "experts_per_token");
        int topK = topKKey != null ? c.requireInt(topKKey) : anyMoe ? c.requireInt("num_experts_per_tok") : 0;
        if (anyMoe && (topK < 1 || topK > numExperts)) {
            throw c.bad("num_experts_per_tok", "is " + topK + "; it must be between 1 and the " + numExperts + " experts");
        }

        AttentionSpec attention = attention(c, family, hidden);
        List<Boolean> sliding = slidingLayers(c, family, numLayers);
        List<ModelSpec.LayerSpec> layers = new ArrayList<>();
        for (int i = 0; i < numLayers; i++) layers.add(new ModelSpec.LayerSpec(moeLayer.get(i), sliding.get(i)));

        MoeSpec moe = moe(c, family, numExperts, topK);
        int denseInter = moeLayer.contains(false) ? width(c, "intermediate_size") : 0;
        // Zero, negative or NaN would only show up later as a NaN loss.
        float eps = (float) c.optDouble("rms_norm_eps", family == Family.OLMOE || family == Family.GPT_OSS ? 1e-5 : 1e-6,
                Float.MIN_NORMAL, 1);
        boolean tied = c.optBool("tie_word_embeddings", false);
        ModelSpec.Scaling scaling = family == Family.GRANITE_MOE
                ? new ModelSpec.Scaling(multiplier(c, "embedding_multiplier"), multiplier(c, "residual_multiplier"),
                multiplier(c, "logits_scaling"), multiplier(c, "attention_multiplier"))
                : ModelSpec.Scaling.NONE;
        int mtp = family == Family.DEEPSEEK_V3 ? c.optInt("num_nextn_predict_layers", 0, 0, MAX_LAYERS) : 0;
        return new ModelSpec(family, arch, vocab, hidden, List.copyOf(layers), attention, rope(c, family, attention),
                moe, denseInter, eps, tied, scaling, names(family), countKey, quantization(c), mtp);
    }

    private static String quoteOrNone(String s) {
        return s == null ? "absent" : "'" + s + "'";
    }

    /** A layer width (hidden, intermediate, head or LoRA size): positive and within {@link #MAX_WIDTH}. */
    private static int width(ConfigValues c, String key) {
        int v = c.requireInt(key);
        if (v <= 0) throw c.bad(key, "must be positive, not " + v);
        return c.inRange(key, v, 1, MAX_WIDTH);
    }

    /** A GraniteMoE scale factor: finite and non-zero in magnitude bounds that keep bf16 activations finite. */
    private static float multiplier(ConfigValues c, String key) {
        return (float) c.optDouble(key, 1, -1e6, 1e6);
    }

    private static List<Boolean> moeLayers(ConfigValues c, Family family, int numLayers, int numExperts) {
        List<Boolean> out = new ArrayList<>();
        switch (family) {
            case QWEN2_MOE, QWEN3_MOE -> {
                List<Integer> mlpOnly = c.optIntList("mlp_only_layers");
                int step = c.optInt("decoder_sparse_step", 1);
                if (step < 1) throw c.bad("decoder_sparse_step", "must be at least 1");
                for (int i = 0; i < numLayers; i++) {
                    out.add(numExperts > 0 && !mlpOnly.contains(i) && (i + 1) % step == 0);
                }
            }
            case DEEPSEEK_V2, DEEPSEEK_V3 -> {
                int firstDense = c.optInt("first_k_dense_replace", 0);
                int freq = c.optInt("moe_layer_freq", 1);
                if (freq < 1) throw c.bad("moe_layer_freq", "must be at least 1");
                for (int i = 0; i < numLayers; i++) out.add(numExperts > 0 && i >= firstDense && i % freq == 0);
            }
            default -> {
                for (int i = 0; i < numLayers; i++) out.add(true);
            }
        }
        return out;
    }

    private static AttentionSpec attention(ConfigValues c, Family family, int hidden) {
        int heads = c.requireInt("num_attention_heads", 1, MAX_HEADS);
        if (family == Family.DEEPSEEK_V2 || family == Family.DEEPSEEK_V3) {
            int qLora = c.optInt("q_lora_rank", 0, 0, MAX_WIDTH);   // null = queries projected directly (V2-Lite)
            int kvLora = width(c, "kv_lora_rank");
            int nope = width(c, "qk_nope_head_dim");
            int rope = width(c, "qk_rope_head_dim");
            int v = width(c, "v_head_dim");
            boolean bias = c.optBool("attention_bias", false);
            return new AttentionSpec(AttentionSpec.Kind.MLA, heads, heads, nope + rope, v, QkNorm.NONE, bias, bias, 0,
                    false, Float.NaN, new AttentionSpec.Mla(qLora, kvLora, nope, rope, v));
        }
        int kv = c.optInt("num_key_value_heads", heads);
        if (kv <= 0 || heads % kv != 0) {
            throw c.bad("num_key_value_heads", "is " + kv + "; it must divide num_attention_heads (" + heads + ")");
        }
        int headDim;
        if (c.has("head_dim")) {
            headDim = width(c, "head_dim");
        } else {
            if (hidden % heads != 0) throw c.invalid("hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads
                    + " and there is no head_dim");
            headDim = hidden / heads;
        }
        QkNorm qkNorm = switch (family) {
            case QWEN3_MOE -> QkNorm.PER_HEAD;
            case OLMOE -> QkNorm.FULL;
            default -> QkNorm.NONE;
        };
        boolean qkvBias;
        boolean outBias;
        switch (family) {
            case QWEN2_MOE -> {    // Qwen2 always has q/k/v biases; transformers 5 writes them as qkv_bias
                qkvBias = c.optBool("qkv_bias", true);
                outBias = false;
            }
            case MIXTRAL -> {
                qkvBias = false;
                outBias = false;
            }
            case GPT_OSS -> {
                qkvBias = c.optBool("attention_bias", true);
                outBias = qkvBias;
            }
            default -> {
                qkvBias = c.optBool("attention_bias", false);
                outBias = qkvBias;
            }
        }
        int window = switch (family) {
            case GPT_OSS, MIXTRAL -> c.optInt("sliding_window", 0);
            case QWEN2_MOE, QWEN3_MOE -> c.optBool("use_sliding_window", false) || c.has("layer_types")
                    ? c.optInt("sliding_window", 0) : 0;
            default -> 0;
        };
        float clip = family == Family.OLMOE && c.has("clip_qkv") ? (float) c.optDouble("clip_qkv", 0, 0, 1e30) : Float.NaN;
        return new AttentionSpec(AttentionSpec.Kind.GQA, heads, kv, headDim, headDim, qkNorm, qkvBias, outBias,
                Math.max(window, 0), family == Family.GPT_OSS, clip, null);
    }

    /** Per layer: does it use the sliding window? From layer_types when present, else the family's rule. */
    private static List<Boolean> slidingLayers(ConfigValues c, Family family, int numLayers) {
        List<Boolean> out = new ArrayList<>();
        int window = c.optInt("sliding_window", 0);
        List<String> types = c.optStringList("layer_types");
        if (!types.isEmpty()) {
            if (types.size() != numLayers) {
                throw c.bad("layer_types", "has " + types.size() + " entries for " + numLayers + " layers");
            }
            for (String t : types) out.add(window > 0 && t.equals("sliding_attention"));
            return out;
        }
        for (int i = 0; i < numLayers; i++) {
            boolean s = switch (family) {
                case MIXTRAL -> window > 0;
                case GPT_OSS -> window > 0 && i % 2 == 0;   // gpt-oss alternates, starting with a sliding layer
                case QWEN2_MOE, QWEN3_MOE -> window > 0 && c.optBool("use_sliding_window", false)
                        && i >= c.optInt("max_window_layers", numLayers);
                default -> false;
            };
            out.add(s);
        }
        return out;
    }

    private static MoeSpec moe(ConfigValues c, Family family, int numExperts, int topK) {
        return switch (family) {
            case QWEN3_MOE -> new MoeSpec(numExperts, topK, expertInter(c, "moe_intermediate_size", numExperts),
                    Scoring.SOFTMAX, c.optBool("norm_topk_prob", false), 1f, Groups.NONE, false, false, 0, 0, false,
                    ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            case QWEN2_MOE -> {
                int shared = c.optInt("shared_expert_intermediate_size", 0, 0, MAX_WIDTH);
                yield new MoeSpec(numExperts, topK, expertInter(c, "moe_intermediate_size", numExperts), Scoring.SOFTMAX,
                        c.optBool("norm_topk_prob", false), 1f, Groups.NONE, false, false, shared > 0 ? 1 : 0, shared,
                        shared > 0, ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            }
            case OLMOE -> new MoeSpec(numExperts, topK, width(c, "intermediate_size"), Scoring.SOFTMAX,
                    c.optBool("norm_topk_prob", false), 1f, Groups.NONE, false, false, 0, 0, false,
                    ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            // Mixtral and GraniteMoE: softmax over all then renormalised top-k = softmax over the chosen logits.
            case MIXTRAL -> new MoeSpec(numExperts, topK, width(c, "intermediate_size"), Scoring.SOFTMAX_TOPK, true, 1f,
                    Groups.NONE, false, false, 0, 0, false, ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            case GRANITE_MOE -> new MoeSpec(numExperts, topK, width(c, "intermediate_size"), Scoring.SOFTMAX_TOPK, true, 1f,
                    Groups.NONE, false, false, 0, 0, false, ExpertLayout.FUSED_INPUT_OUTPUT, Activation.SWIGLU);
            case GPT_OSS -> new MoeSpec(numExperts, topK, width(c, "intermediate_size"), Scoring.SOFTMAX_TOPK, true, 1f,
                    Groups.NONE, false, true, 0, 0, false, ExpertLayout.FUSED_GATE_UP_INTERLEAVED,
                    new Activation(Activation.Kind.CLAMPED_SWIGLU, 1.702f, (float) c.optDouble("swiglu_limit", 7.0, 0, 1e6)));
            case DEEPSEEK_V2 -> {
                int inter = expertInter(c, "moe_intermediate_size", numExperts);
                int nShared = c.optInt("n_shared_experts", 0, 0, 64);
                String method = c.optString("topk_method", "greedy");
                Groups groups = switch (method) {
                    case "greedy" -> Groups.NONE;
                    case "group_limited_greedy" -> groups(c, numExperts, topK, Groups.GroupScore.MAX, 1, 1);
                    default -> throw c.bad("topk_method", "is '" + method + "'; DeepSeek-V2 supports greedy and group_limited_greedy");
                };
                yield new MoeSpec(numExperts, topK, inter, Scoring.SOFTMAX, c.optBool("norm_topk_prob", false),
                        (float) c.optDouble("routed_scaling_factor", 1.0, -1e6, 1e6), groups, false, false, nShared, nShared * inter,
                        false, ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            }
            case DEEPSEEK_V3 -> {
                int inter = expertInter(c, "moe_intermediate_size", numExperts);
                int nShared = c.optInt("n_shared_experts", 1, 0, 64);
                String method = c.optString("topk_method", "noaux_tc");
                if (!method.equals("noaux_tc")) throw c.bad("topk_method", "is '" + method + "'; DeepSeek-V3 uses noaux_tc");
                String scoring = c.optString("scoring_func", "sigmoid");
                if (!scoring.equals("sigmoid")) throw c.bad("scoring_func", "is '" + scoring + "'; DeepSeek-V3 uses sigmoid");
                yield new MoeSpec(numExperts, topK, inter, Scoring.SIGMOID, c.optBool("norm_topk_prob", true),
                        (float) c.optDouble("routed_scaling_factor", 2.5, -1e6, 1e6), groups(c, numExperts, topK, Groups.GroupScore.SUM_TOP2, 8, 4),
                        true, false, nShared, nShared * inter, false, ExpertLayout.PER_EXPERT, Activation.SWIGLU);
            }
        };
    }

    private static int expertInter(ConfigValues c, String key, int numExperts) {
        return numExperts == 0 ? c.optInt(key, 0, 0, MAX_WIDTH) : width(c, key);
    }

    private static Groups groups(ConfigValues c, int numExperts, int topK, Groups.GroupScore score, int dfltGroups, int dfltTopk) {
        int n = c.optInt("n_group", dfltGroups, 0, MAX_EXPERTS);
        int k = c.optInt("topk_group", dfltTopk, 0, MAX_EXPERTS);
        if (n <= 1) return Groups.NONE;
        if (numExperts % n != 0) throw c.bad("n_group", "is " + n + "; it must divide the " + numExperts + " routed experts");
        if (k < 1 || k > n) throw c.bad("topk_group", "is " + k + "; it must be between 1 and n_group (" + n + ")");
        if ((long) k * (numExperts / n) < topK) {
            throw c.bad("topk_group", "is " + k + "; the chosen groups hold fewer experts than num_experts_per_tok (" + topK + ")");
        }
        return new Groups(n, k, score);
    }

    private static RopeSpec rope(ConfigValues c, Family family, AttentionSpec att) {
        ConfigValues rp = c.object("rope_parameters");
        ConfigValues scaling = c.object("rope_scaling");
        // transformers 5 puts everything in rope_parameters; older configs have rope_theta + rope_scaling.
        ConfigValues p = rp != null ? rp : scaling;
        double dfltTheta = switch (family) {
            case MIXTRAL -> 1e6;
            case GPT_OSS -> 150000;
            default -> 10000;
        };
        double theta = rp != null && rp.has("rope_theta") ? rp.optDouble("rope_theta", dfltTheta, 0, 1e30)
                : c.optDouble("rope_theta", dfltTheta, 0, 1e30);
        if (!(theta > 0) || Double.isInfinite(theta)) throw c.bad("rope_theta", "must be a positive finite number");
        String type = "default";
        if (p != null) type = p.optString("rope_type", p.optString("type", "default"));
        if (!ROPE_TYPES.contains(type)) {
            throw p.bad(p.has("rope_type") ? "rope_type" : "type", "is '" + type + "', which is not a rope type "
                    + "(known: " + String.join(", ", new TreeSet<>(ROPE_TYPES)) + ")");
        }
        int maxPos = c.optInt("max_position_embeddings", 0, 0, Integer.MAX_VALUE);
        double factor = p == null ? 1 : p.optDouble("factor", 1, 1e-6, 1e6);
        boolean scaled = !type.equals("default");
        int origMax = p == null ? 0 : p.optInt("original_max_position_embeddings", scaled ? maxPos : 0);
        double betaFast = p == null ? 32 : p.optDouble("beta_fast", 32, -1e6, 1e6);
        double betaSlow = p == null ? 1 : p.optDouble("beta_slow", 1, -1e6, 1e6);
        double mscale = p == null ? 0 : p.optDouble("mscale", 0, -1e6, 1e6);
        double mscaleAll = p == null ? 0 : p.optDouble("mscale_all_dim", 0, -1e6, 1e6);
        boolean truncate = p == null || p.optBool("truncate", true);
        boolean interleaved = switch (family) {
            case DEEPSEEK_V3 -> c.optBool("rope_interleave", true);
            case DEEPSEEK_V2 -> true;   // transformers rotates DeepSeek-V2 as complex pairs
            default -> false;
        };
        int rotary = att.kind() == AttentionSpec.Kind.MLA ? att.mla().qkRopeHeadDim()
                : (int) Math.round(att.headDim() * (p != null && p.has("partial_rotary_factor")
                ? p.optDouble("partial_rotary_factor", 1, 0, 1) : c.optDouble("partial_rotary_factor", 1, 0, 1)));
        return new RopeSpec(type, theta, factor, origMax, betaFast, betaSlow, mscale, mscaleAll, truncate, interleaved, rotary, maxPos);
    }

    private static Quantization quantization(ConfigValues c) {
        ConfigValues q = c.object("quantization_config");
        if (q == null) return Quantization.NONE;
        String method = q.optString("quant_method", null);
        if (method == null) throw q.missing("quant_method");
        List<String> skip = q.optStringList("modules_to_not_convert");
        return switch (method) {
            case "fp8" -> {
                List<Integer> block = q.optIntList("weight_block_size");
                if (block.isEmpty()) block = List.of(128, 128);
                if (block.size() != 2 || block.get(0) < 1 || block.get(1) < 1) {
                    throw q.bad("weight_block_size", "must be two positive integers, not " + block);
                }
                yield new Quantization(Quantization.Method.FP8, block.get(0), block.get(1), skip);
            }
            case "mxfp4" -> new Quantization(Quantization.Method.MXFP4, 0, 0, skip);
            default -> throw q.bad("quant_method", "is '" + method + "'; supported: fp8, mxfp4");
        };
    }

    /** Tensor name templates, as transformers 5 saves each family (checked against the conformance fixtures). */
    static TensorNames names(Family family) {
        String l = "model.layers.{L}.";
        String embed = "model.embed_tokens.weight";
        String head = "lm_head.weight";
        String norm = "model.norm.weight";
        String in = l + "input_layernorm.weight";
        String post = l + "post_attention_layernorm.weight";
        String att = l + "self_attn.";
        String denseG = l + "mlp.gate_proj.weight", denseU = l + "mlp.up_proj.weight", denseD = l + "mlp.down_proj.weight";
        String ex = l + "mlp.experts.{E}.";
        return switch (family) {
            case QWEN3_MOE -> new TensorNames(embed, head, norm, in, post, l + "mlp.gate.weight", null, null,
                    ex + "gate_proj.weight", ex + "up_proj.weight", ex + "down_proj.weight", null, null,
                    null, null, null, null, denseG, denseU, denseD, att);
            case QWEN2_MOE -> new TensorNames(embed, head, norm, in, post, l + "mlp.gate.weight", null, null,
                    ex + "gate_proj.weight", ex + "up_proj.weight", ex + "down_proj.weight", null, null,
                    l + "mlp.shared_expert.gate_proj.weight", l + "mlp.shared_expert.up_proj.weight",
                    l + "mlp.shared_expert.down_proj.weight", l + "mlp.shared_expert_gate.weight", denseG, denseU, denseD, att);
            case OLMOE -> new TensorNames(embed, head, norm, in, post, l + "mlp.gate.weight", null, null,
                    ex + "gate_proj.weight", ex + "up_proj.weight", ex + "down_proj.weight", null, null,
                    null, null, null, null, null, null, null, att);
            case MIXTRAL -> {
                String mx = l + "block_sparse_moe.experts.{E}.";
                yield new TensorNames(embed, head, norm, in, post, l + "block_sparse_moe.gate.weight", null, null,
                        mx + "w1.weight", mx + "w3.weight", mx + "w2.weight", null, null,
                        null, null, null, null, null, null, null, att);
            }
            case DEEPSEEK_V2, DEEPSEEK_V3 -> new TensorNames(embed, head, norm, in, post, l + "mlp.gate.weight", null,
                    family == Family.DEEPSEEK_V3 ? l + "mlp.gate.e_score_correction_bias" : null,
                    ex + "gate_proj.weight", ex + "up_proj.weight", ex + "down_proj.weight", null, null,
                    l + "mlp.shared_experts.gate_proj.weight", l + "mlp.shared_experts.up_proj.weight",
                    l + "mlp.shared_experts.down_proj.weight", null, denseG, denseU, denseD, att);
            case GPT_OSS -> new TensorNames(embed, head, norm, in, post, l + "mlp.router.weight", l + "mlp.router.bias", null,
                    l + "mlp.experts.gate_up_proj", null, l + "mlp.experts.down_proj",
                    l + "mlp.experts.gate_up_proj_bias", l + "mlp.experts.down_proj_bias",
                    null, null, null, null, null, null, null, att);
            case GRANITE_MOE -> new TensorNames(embed, head, norm, in, post, l + "block_sparse_moe.router.layer.weight", null, null,
                    l + "block_sparse_moe.input_linear.weight", null, l + "block_sparse_moe.output_linear.weight", null, null,
                    null, null, null, null, null, null, null, att);
        };
    }
}
