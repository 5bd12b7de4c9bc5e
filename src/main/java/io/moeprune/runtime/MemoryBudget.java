package io.moeprune.runtime;

import java.nio.file.Path;

/**
 * What a run may hold in memory, heap and resident weights together ({@code --memory-budget}; default: the memory
 * available when first asked), and where residual streams spill beyond it. A process-wide setting like the thread
 * count: the launcher sizes the heap from the same option, and layer-major passes take their defaults from it.
 */
public final class MemoryBudget {
    private static final Path TEMP = Path.of(System.getProperty("java.io.tmpdir"));
    private static volatile long bytes = -1;
    private static volatile Path spillDirectory = TEMP;

    private MemoryBudget() {
    }

    /** Back to the defaults (each command starts from them). */
    public static void reset() {
        bytes = -1;
        spillDirectory = TEMP;
    }

    /** Sets the budget in bytes (from {@code --memory-budget}). */
    public static void set(long budget) {
        if (budget <= 0) throw new IllegalArgumentException("budget " + budget);
        bytes = budget;
    }

    /** Where a pass's residual streams go beyond the heap budget (a command sets the directory of its output). */
    public static void spillTo(Path dir) {
        spillDirectory = dir;
    }

    static Path spillDirectory() {
        return spillDirectory;
    }

    /** The budget: as set, else MemAvailable at the first call. */
    public static long bytes() {
        long b = bytes;
        if (b < 0) bytes = b = SystemMemory.availableBytes();
        return b;
    }

    /** What the weights may keep resident: the budget less the heap the JVM may grow to. */
    static long forWeights() {
        return Math.max(0, bytes() - Runtime.getRuntime().maxMemory());
    }

    /**
     * Off-heap bytes a layer-major pass may keep of a layer's FP8 weights dequantised to BF16 for its sequences
     * ({@link io.moeprune.kernels.Fp8PanelCache}): {@code -Dmoeprune.fp8PanelCacheBytes}, else half of what the weights
     * may keep resident (DeepSeek-V3: 22.5 GB a MoE layer; the GPU machine's 128 GB with a 48 GB heap leaves ~36 GB).
     */
    static long forDequantisedPanels() {
        return Long.getLong("moeprune.fp8PanelCacheBytes", forWeights() / 2);
    }

    /** The heap the waiting residual streams may take: a quarter of the JVM's heap, or of the budget if smaller. */
    static long forResiduals() {
        return Math.min(Runtime.getRuntime().maxMemory(), bytes()) / 4;
    }
}
