package io.moeprune.kernels;

import io.moeprune.MoepruneException;

/**
 * Finds the Vector API kernels. They need the {@code jdk.incubator.vector} module (added with
 * {@code --add-modules jdk.incubator.vector}, which the launcher and the build pass) and a preferred species of at
 * least 128 bits; otherwise the scalar kernels serve. {@code VectorKernels} is only loaded (reflectively) once the
 * module is known to be present, so this class itself links without it.
 */
final class VectorSupport {
    private static volatile Kernels vector;
    private static volatile String unavailable;

    private VectorSupport() {
    }

    /** The vector kernels, or null with {@link #whyUnavailable()} saying why. */
    static Kernels vectorKernels() {
        if (vector == null && unavailable == null) probe();
        return vector;
    }

    static String whyUnavailable() {
        vectorKernels();
        return unavailable;
    }

    private static synchronized void probe() {
        if (vector != null || unavailable != null) return;
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            unavailable = "the jdk.incubator.vector module is not present (run java with --add-modules jdk.incubator.vector)";
            return;
        }
        try {
            Class<?> c = Class.forName("io.moeprune.kernels.VectorKernels");
            if (!(boolean) c.getDeclaredMethod("usable").invoke(null)) {
                unavailable = "the preferred vector species is narrower than 128 bits";
                return;
            }
            vector = (Kernels) c.getDeclaredField("INSTANCE").get(null);
        } catch (ReflectiveOperationException | LinkageError e) {
            unavailable = "the Vector API kernels failed to load: " + e;
        }
    }

    /** auto: vector when available, else scalar; required (mode "vector"): vector or a one-line error. */
    static Kernels vectorOrScalar(boolean required) {
        Kernels v = vectorKernels();
        if (v != null) return v;
        if (required) throw new MoepruneException("-Dmoeprune.kernels=vector but " + unavailable);
        return ScalarKernels.INSTANCE;
    }
}
