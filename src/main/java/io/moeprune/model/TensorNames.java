package io.moeprune.model;

/**
 * Tensor name templates of a family's checkpoints. {@code {L}} stands for the layer index, {@code {E}} for the
 * expert index; {@link #format} fills them in. A template is null when the family has no such tensor.
 *
 * <p>For {@link MoeSpec.ExpertLayout#PER_EXPERT} the expert templates contain {@code {E}}; for the fused layouts
 * they name one 3-D tensor per layer holding all experts (first dimension = expert): {@code expertGate} names the
 * fused gate+up tensor (gpt-oss {@code mlp.experts.gate_up_proj} [E,H,2I], GraniteMoE
 * {@code block_sparse_moe.input_linear.weight} [E,2I,H]), {@code expertUp} is null, {@code expertDown} names the
 * fused down tensor. {@code lmHead} is always named; with tied embeddings the checkpoint has no such tensor and the
 * embedding is used instead. {@code attentionPrefix} ends with a dot; the projections under it are q_proj, k_proj,
 * v_proj, o_proj (+ .bias, q_norm, k_norm, sinks) for GQA and q_proj or q_a_proj/q_a_layernorm/q_b_proj,
 * kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj for MLA ({@link ExpectedTensors} lists them all).
 */
public record TensorNames(
        String embed,
        String lmHead,
        String finalNorm,
        String inputNorm,
        String postAttentionNorm,
        String routerWeight,
        String routerBias,
        String selectionBias,
        String expertGate,
        String expertUp,
        String expertDown,
        String expertGateUpBias,
        String expertDownBias,
        String sharedGate,
        String sharedUp,
        String sharedDown,
        String sharedExpertGate,
        String denseGate,
        String denseUp,
        String denseDown,
        String attentionPrefix) {

    public static String format(String template, int layer) {
        return template == null ? null : template.replace("{L}", Integer.toString(layer));
    }

    public static String format(String template, int layer, int expert) {
        return template == null ? null
                : template.replace("{L}", Integer.toString(layer)).replace("{E}", Integer.toString(expert));
    }
}
