package io.moeprune.model;

/** What a tensor is for; parameter and byte accounting is reported per category. */
public enum TensorCategory {
    /** Token embedding and LM head. */
    EMBEDDINGS_HEAD("embeddings/head"),
    /** Attention projections, their biases and gpt-oss sinks. */
    ATTENTION("attention"),
    /** Router weight and bias, DeepSeek-V3 selection bias, Qwen2-MoE shared-expert gate. */
    ROUTER("router"),
    /** The routed experts (what pruning removes). */
    ROUTED_EXPERTS("routed experts"),
    /** Always-on shared experts. */
    SHARED_EXPERTS("shared experts"),
    /** The MLP of dense (non-MoE) layers. */
    DENSE_MLP("dense MLP"),
    /** RMSNorm weights (layer norms, final norm, q/k norms, MLA latent norms). */
    NORMS("norms"),
    /** Anything else: multi-token-prediction layers, rotary buffers, tensors the config does not explain. */
    OTHER("other");

    private final String label;

    TensorCategory(String label) {
        this.label = label;
    }

    /** Human-readable name used in tables. */
    public String label() {
        return label;
    }
}
