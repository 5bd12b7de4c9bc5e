package io.moeprune.runtime;

/**
 * Which runtime the layer-major users (calibration, perplexity, choice scoring, reports) and generation
 * ({@link Generator}) run on: the CPU's {@link LayerMajorPass} and {@link DecodeSteps#CPU} unless a command's
 * {@code --device} installed others (as {@link MemoryBudget} holds the
 * process's memory budget, this holds the process's device: one per command run).
 */
public final class PrefillPasses {
    /** Makes the pass of a model, mask and logits choice. */
    @FunctionalInterface
    public interface Factory {
        PrefillPass create(Model model, ExpertMask mask, LayerMajorPass.Logits logits);
    }

    public static final Factory CPU = LayerMajorPass::new;

    private static volatile Factory factory = CPU;
    private static volatile DecodeSteps.Factory decoding = DecodeSteps.CPU;
    private static volatile String device = "cpu";

    private PrefillPasses() {
    }

    /** The pass of the current device. */
    public static PrefillPass create(Model model, ExpertMask mask, LayerMajorPass.Logits logits) {
        return factory.create(model, mask, logits);
    }

    /** Runs the layer-major users on {@code f} from now on (generation stays on the CPU); {@code name} names the device. */
    public static void use(Factory f, String name) {
        use(f, DecodeSteps.CPU, name);
    }

    /** Runs the layer-major users on {@code f} and generation ({@link Generator}) on {@code d} from now on. */
    public static void use(Factory f, DecodeSteps.Factory d, String name) {
        factory = f;
        decoding = d;
        device = name;
    }

    /** The generation steps of the current device. */
    public static DecodeSteps.Factory decoding() {
        return decoding;
    }

    /** Back to the CPU. */
    public static void reset() {
        use(CPU, "cpu");
    }

    /** The device the layer-major users run on now: "cpu" or "cuda:N". */
    public static String device() {
        return device;
    }
}
