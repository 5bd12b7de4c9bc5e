package io.moeprune.gpu;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Assumptions;

/**
 * The GPU tests run only where CUDA can (bench/device/gpu_tests.sh on the GPU machine); elsewhere they skip, printing
 * why (CI has no GPU).
 */
public final class GpuTestSupport {
    private static String unavailable;
    private static boolean probed;

    private GpuTestSupport() {
    }

    /** Opens cuda:0 with at most {@code bytes} of its memory, or skips the test saying what is missing. */
    public static GpuDevice openOrSkip(long bytes) {
        synchronized (GpuTestSupport.class) {
            if (!probed) {
                probed = true;
                try {
                    CudaLibrariesProbe.devices();
                } catch (MoepruneException e) {
                    unavailable = e.getMessage();
                    System.out.println("GPU tests skipped: " + unavailable);
                }
            }
        }
        Assumptions.assumeTrue(unavailable == null, () -> "no usable GPU: " + unavailable);
        return GpuDevice.open(new DeviceChoice(DeviceChoice.Kind.CUDA, 0), bytes);
    }

    /** Round to nearest even, as the GPU kernels and the CPU runtime's BF16 paths do. */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    static float fromBf16(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /** ‖a − b‖ / ‖b‖. */
    static double relativeError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            double d = a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    /**
     * A shared model where this checkout has it: tracked in models/, carried in .devcarry/, the test bed, or left in
     * /tmp/moeprune-models/ by an earlier call on the same warm GPU machine (a model and .devbench together exceed what
     * one call carries: NOTES.md, "Device calls waiting"); null when nowhere.
     */
    public static java.nio.file.Path sharedModel(String name) {
        return java.util.stream.Stream.of("models/", ".devcarry/", "../shared/models/", "/tmp/moeprune-models/")
                .map(d -> java.nio.file.Path.of(d + name))
                .filter(p -> java.nio.file.Files.isRegularFile(p.resolve("config.json"))).findFirst().orElse(null);
    }

    /**
     * A domain's demonstrations of the test bed ({@code <domain>.dev.jsonl}) where this machine has them: the test bed,
     * or unpacked by bench/device/gpu_shared_model_checks.sh into /tmp/moeprune-data/domains/; null when nowhere.
     */
    public static java.nio.file.Path sharedDomain(String domain) {
        return java.util.stream.Stream.of("../shared/data/domains/", "/tmp/moeprune-data/domains/")
                .map(d -> java.nio.file.Path.of(d + domain + ".dev.jsonl"))
                .filter(java.nio.file.Files::isRegularFile).findFirst().orElse(null);
    }
}
