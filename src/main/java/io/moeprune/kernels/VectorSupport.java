package io.moeprune.kernels;

/** Finds the Vector API kernels; until they exist (or when the module is absent) the scalar ones serve. */
final class VectorSupport {
    private VectorSupport() {
    }

    static Kernels vectorOrScalar(boolean required) {
        if (required) throw new IllegalStateException("vector kernels are not available");
        return ScalarKernels.INSTANCE;
    }
}
