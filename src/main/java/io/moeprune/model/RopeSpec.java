package io.moeprune.model;

/**
 * Rotary position embedding, read from {@code rope_parameters} (transformers 5) or {@code rope_theta} /
 * {@code rope_scaling} (older configs).
 *
 * @param type            "default", "linear", "dynamic", "yarn", "llama3", ...
 * @param theta           base frequency
 * @param factor          scaling factor (1 when unscaled)
 * @param originalMaxPositions original context of a scaled rope (0 when unscaled)
 * @param betaFast        YaRN beta_fast
 * @param betaSlow        YaRN beta_slow
 * @param mscale          YaRN mscale (DeepSeek), 0 when absent
 * @param mscaleAllDim    YaRN mscale_all_dim (DeepSeek), 0 when absent
 * @param truncate        YaRN truncate flag (gpt-oss sets it false)
 * @param interleaved     rotate interleaved pairs (x0,x1),(x2,x3)... instead of two halves (DeepSeek rope_interleave)
 * @param rotaryDim       number of dimensions rotated per head (the whole head unless partial)
 * @param maxPositions    max_position_embeddings
 */
public record RopeSpec(
        String type,
        double theta,
        double factor,
        int originalMaxPositions,
        double betaFast,
        double betaSlow,
        double mscale,
        double mscaleAllDim,
        boolean truncate,
        boolean interleaved,
        int rotaryDim,
        int maxPositions) {
}
