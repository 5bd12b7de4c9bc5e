package io.moeprune.gpu.ops;

import io.moeprune.MoepruneException;

/**
 * The element type the routed experts' products write ({@link DeviceOps#groupedLinear}: [gate | up] and down) and
 * their readers read ({@link DeviceOps#gatedActivation}, {@link DeviceOps#combineSlots}, {@link DeviceOps#slotNorms}):
 * {@code -Dmoeprune.expertOutputs=f32|bf16}. F32 (the default) is the pass as it was. BF16 (the F32 accumulation
 * rounded to nearest even, as cuBLAS rounds it) halves the slot rows' memory traffic, the MoE block's largest at
 * calibration size (issue 22); it becomes the default only once the GPU's A/B has measured it.
 */
public enum ExpertOutputs {
    F32(4), BF16(2);

    public static final String PROPERTY = "moeprune.expertOutputs";

    private final int bytes;

    ExpertOutputs(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes of one element. */
    public int bytes() {
        return bytes;
    }

    /** The switch as set now ({@code f32} when unset); a bad value is the one-line bad-input error. */
    public static ExpertOutputs fromProperties() {
        String v = System.getProperty(PROPERTY, "f32").trim();
        return switch (v) {
            case "f32" -> F32;
            case "bf16" -> BF16;
            default -> throw new MoepruneException("-D" + PROPERTY + "=" + v + ": not f32 or bf16",
                    MoepruneException.BAD_INPUT, null);
        };
    }
}
