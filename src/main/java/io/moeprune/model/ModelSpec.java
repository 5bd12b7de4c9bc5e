package io.moeprune.model;

import java.util.List;

/**
 * One normalised description of a MoE causal language model, built from its {@code config.json} by
 * {@link ConfigReader}. Everything downstream (inspection, the runtime, calibration, pruning) reads the model
 * through this record and never through family-specific config keys.
 *
 * @param family            which family the config belongs to
 * @param architecture      the {@code architectures[0]} string of the config
 * @param vocabSize         rows of the embedding and LM head
 * @param hiddenSize        width of the residual stream
 * @param layers            one entry per decoder layer: dense or MoE, and its attention kind
 * @param attention         attention shape shared by all layers
 * @param rope              rotary embedding parameters
 * @param moe               routing and expert description shared by all MoE layers
 * @param denseIntermediateSize intermediate width of the dense MLP layers (0 when there are none)
 * @param rmsNormEps        epsilon of every RMSNorm
 * @param tieWordEmbeddings whether the LM head reuses the embedding matrix
 * @param scaling           family-specific multipliers (GraniteMoE); {@link Scaling#NONE} elsewhere
 * @param names             tensor names of this family's checkpoints
 * @param expertCountKey    the config key that holds the routed-expert count (rewritten by pruning); it is the key
 *                          actually present in the file ({@code num_experts}, {@code num_local_experts} or
 *                          {@code n_routed_experts})
 * @param quantization      weight quantisation of the checkpoint ({@link Quantization#NONE} when plain)
 * @param mtpLayers         DeepSeek-V3 multi-token-prediction layers stored after the decoder layers
 *                          ({@code num_nextn_predict_layers}); not part of the causal LM, ignored by inference
 */
public record ModelSpec(
        Family family,
        String architecture,
        int vocabSize,
        int hiddenSize,
        List<LayerSpec> layers,
        AttentionSpec attention,
        RopeSpec rope,
        MoeSpec moe,
        int denseIntermediateSize,
        float rmsNormEps,
        boolean tieWordEmbeddings,
        Scaling scaling,
        TensorNames names,
        String expertCountKey,
        Quantization quantization,
        int mtpLayers) {

    /** The original shape without quantisation and MTP layers (kept so code written against it still compiles). */
    public ModelSpec(Family family, String architecture, int vocabSize, int hiddenSize, List<LayerSpec> layers,
                     AttentionSpec attention, RopeSpec rope, MoeSpec moe, int denseIntermediateSize, float rmsNormEps,
                     boolean tieWordEmbeddings, Scaling scaling, TensorNames names, String expertCountKey) {
        this(family, architecture, vocabSize, hiddenSize, layers, attention, rope, moe, denseIntermediateSize,
                rmsNormEps, tieWordEmbeddings, scaling, names, expertCountKey, Quantization.NONE, 0);
    }

    public int numLayers() {
        return layers.size();
    }

    public boolean isMoeLayer(int layer) {
        return layers.get(layer).moe();
    }

    /** Indices of the MoE layers in ascending order. */
    public List<Integer> moeLayers() {
        return java.util.stream.IntStream.range(0, layers.size()).filter(this::isMoeLayer).boxed().toList();
    }

    /** Per layer: MoE or dense, and whether its attention uses a sliding window. */
    public record LayerSpec(boolean moe, boolean slidingWindow) {
    }

    /** GraniteMoE's multipliers: embeddings × embedding, residual branches × residual, logits ÷ logitsDivisor. */
    public record Scaling(float embedding, float residual, float logitsDivisor, float attention) {
        public static final Scaling NONE = new Scaling(1f, 1f, 1f, Float.NaN);

        /** True when {@link #attention} replaces the usual 1/sqrt(head_dim) softmax scale. */
        public boolean overridesAttentionScale() {
            return !Float.isNaN(attention);
        }
    }
}
