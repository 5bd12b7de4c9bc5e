package io.moeprune.kernels;

/** Reads {@code moeprune.kernels} once; the Vector API implementation registers itself when it is available. */
final class KernelSelection {
    private static volatile Kernels forced;

    private KernelSelection() {
    }

    static Kernels current() {
        Kernels f = forced;
        if (f != null) return f;
        String mode = System.getProperty("moeprune.kernels", "auto");
        return switch (mode) {
            case "scalar" -> ScalarKernels.INSTANCE;
            default -> VectorSupport.vectorOrScalar(mode.equals("vector"));
        };
    }

    /** For tests: force an implementation (null restores the property-driven choice). */
    static void force(Kernels k) {
        forced = k;
    }
}
