package io.moeprune.kernels;

import io.moeprune.MoepruneException;

/**
 * Chooses the kernels by the system property {@code moeprune.kernels}: {@code auto} (default: vector when
 * {@link VectorSupport} finds it usable, else scalar), {@code vector} (error when unavailable) or {@code scalar}.
 */
final class KernelSelection {
    private static volatile Kernels forced;

    private KernelSelection() {
    }

    static Kernels current() {
        Kernels f = forced;
        if (f != null) return f;
        return forMode(System.getProperty("moeprune.kernels", "auto"));
    }

    static Kernels forMode(String name) {
        String mode = name.trim();
        return switch (mode) {
            case "scalar" -> ScalarKernels.INSTANCE;
            case "vector" -> VectorSupport.vectorOrScalar(true);
            case "auto", "" -> VectorSupport.vectorOrScalar(false);
            default -> throw new MoepruneException("-Dmoeprune.kernels=" + mode + " is not one of auto, vector, scalar");
        };
    }

    /** For tests: force an implementation (null restores the property-driven choice). */
    static void force(Kernels k) {
        forced = k;
    }
}
