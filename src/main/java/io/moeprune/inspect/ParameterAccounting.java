package io.moeprune.inspect;

import io.moeprune.model.ExpectedTensor;
import io.moeprune.model.ExpectedTensors;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.TensorCategory;
import io.moeprune.safetensors.Checkpoint;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Parameter and byte figures of a model.
 *
 * <p>Parameters are counted from the shapes the config implies (so a quantised checkpoint counts its logical
 * weights: MXFP4 blocks hold two weights per byte, FP8 scales are not parameters); tied embeddings count once.
 * This matches transformers' {@code model.num_parameters()} for unquantised checkpoints.
 *
 * <p><b>Active parameters per token</b> are all parameters except the routed experts a token does not use: embeddings
 * and LM head, attention, norms, routers, dense MLPs, shared experts, plus top-k of the E routed experts in every MoE
 * layer (for gpt-oss including those experts' biases). Embeddings and LM head are included, as in the published
 * figures of Mixtral (12.9B) and DeepSeek-V3 (37B); DeepSeek-V3's multi-token-prediction layers are not.
 *
 * <p>Bytes are the stored sizes of the checkpoint's tensors (data only, without safetensors headers), each in the
 * category of the tensor it belongs to (quantisation scales go with their weight); tensors the config does not
 * explain count as {@link TensorCategory#OTHER}.
 *
 * @param total             parameters in total
 * @param activePerToken    parameters a token passes through (definition above)
 * @param routedExperts     parameters in routed experts, all MoE layers
 * @param perExpert         parameters of one routed expert of one layer (0 without MoE layers)
 * @param parameters        parameters per category (every category present, possibly 0)
 * @param totalBytes        stored tensor bytes in total
 * @param bytes             stored tensor bytes per category
 * @param projections       projected size when only some experts are kept in every MoE layer
 */
public record ParameterAccounting(long total, long activePerToken, long routedExperts, long perExpert,
                                  Map<TensorCategory, Long> parameters, long totalBytes, Map<TensorCategory, Long> bytes,
                                  List<Projection> projections) {

    /** Fractions of the routed experts for which {@link #projections} are given. */
    public static final int[] PROJECTED_PERCENT = {25, 50, 75};

    /**
     * The model after keeping {@code keptExperts} of E routed experts in every MoE layer.
     *
     * @param percent     requested share of experts kept
     * @param keptExperts K = round(E × percent / 100), at least top-k (a layer cannot route to fewer experts)
     * @param parameters  parameters in total after pruning (active parameters per token do not change)
     * @param bytes       stored tensor bytes after pruning
     */
    public record Projection(int percent, int keptExperts, long parameters, long bytes) {
    }

    public static ParameterAccounting of(ModelSpec spec, Checkpoint checkpoint) {
        List<ExpectedTensor> expected = ExpectedTensors.of(spec);
        Map<String, ExpectedTensor> byName = new java.util.HashMap<>();
        for (ExpectedTensor t : expected) byName.put(t.name(), t);

        Map<TensorCategory, Long> params = zeros();
        Map<Integer, Long> routedByLayer = new TreeMap<>();
        long total = 0;
        for (ExpectedTensor t : expected) {
            total += t.parameters();
            params.merge(t.category(), t.parameters(), Long::sum);
            if (t.category() == TensorCategory.ROUTED_EXPERTS) routedByLayer.merge(t.layer(), t.parameters(), Long::sum);
        }

        Map<TensorCategory, Long> bytes = zeros();
        Map<Integer, Long> routedBytesByLayer = new TreeMap<>();
        long totalBytes = 0;
        if (checkpoint != null) {
            for (String n : checkpoint.names()) {
                long b = checkpoint.info(n).byteSize();
                ExpectedTensor t = byName.get(n);
                TensorCategory cat = t == null ? TensorCategory.OTHER : t.category();
                totalBytes += b;
                bytes.merge(cat, b, Long::sum);
                if (cat == TensorCategory.ROUTED_EXPERTS) routedBytesByLayer.merge(t.layer(), b, Long::sum);
            }
        }

        int e = spec.moe().numExperts();
        int k = spec.moe().topK();
        long routed = params.get(TensorCategory.ROUTED_EXPERTS);
        long unused = 0;
        for (long r : routedByLayer.values()) unused += r / e * (e - k);
        int moeLayers = routedByLayer.size();
        long perExpert = moeLayers == 0 ? 0 : routedByLayer.values().iterator().next() / e;

        List<Projection> projections = new ArrayList<>();
        if (moeLayers > 0) {
            for (int pct : PROJECTED_PERCENT) {
                int kept = Math.clamp(Math.round(e * pct / 100.0), k, e);
                projections.add(new Projection(pct, kept, total - removed(routedByLayer, e, kept),
                        totalBytes - removed(routedBytesByLayer, e, kept)));
            }
        }
        return new ParameterAccounting(total, total - unused, routed, perExpert, Collections.unmodifiableMap(params),
                totalBytes, Collections.unmodifiableMap(bytes), List.copyOf(projections));
    }

    /** What dropping E-K of E equal experts removes from each layer's routed total. */
    private static long removed(Map<Integer, Long> perLayer, int e, int kept) {
        long r = 0;
        for (long v : perLayer.values()) r += v - Math.round((double) v * kept / e);
        return r;
    }

    private static Map<TensorCategory, Long> zeros() {
        Map<TensorCategory, Long> m = new EnumMap<>(TensorCategory.class);
        for (TensorCategory c : TensorCategory.values()) m.put(c, 0L);
        return m;
    }
}
