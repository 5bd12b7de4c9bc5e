package io.moeprune.model;

/**
 * Tensor name templates of a family's checkpoints. {@code {L}} stands for the layer index, {@code {E}} for the
 * expert index; {@link #format} fills them in. A template is null when the family has no such tensor.
 *
 * <p>For {@link MoeSpec.ExpertLayout#PER_EXPERT} the expert templates contain {@code {E}}; for the fused layouts
 * they name one 3-D tensor per layer holding all experts (first dimension = expert).
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
