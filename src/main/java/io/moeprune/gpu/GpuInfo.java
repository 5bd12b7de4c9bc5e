package io.moeprune.gpu;

/**
 * What a CUDA device is: for `moeprune devices`, the GPU benchmarks' headers and the kernels' build target.
 *
 * @param ordinal        N of {@code cuda:N}
 * @param name           the driver's name for it
 * @param major          compute capability, major
 * @param minor          compute capability, minor
 * @param multiprocessors streaming multiprocessors
 * @param totalBytes     device memory
 * @param freeBytes      device memory free when asked
 * @param driverVersion  CUDA version the driver supports (1000·major + 10·minor)
 * @param runtimeVersion CUDA runtime version loaded
 */
public record GpuInfo(int ordinal, String name, int major, int minor, int multiprocessors, long totalBytes,
                      long freeBytes, int driverVersion, int runtimeVersion) {

    /** The NVRTC target for this device's own machine code, e.g. {@code sm_90}. */
    public String architecture() {
        return "sm_" + major + minor;
    }

    /** A CUDA version number (1000·major + 10·minor) as "13.0". */
    public static String version(int v) {
        return (v / 1000) + "." + (v % 1000) / 10;
    }

    /** One line: {@code cuda:0 NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB (78.5 free), driver CUDA 13.0}. */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "cuda:%d %s, %s, %d SMs, %.1f GiB (%.1f free), driver CUDA %s, runtime %s",
                ordinal, name, architecture(), multiprocessors, totalBytes / (double) (1L << 30),
                freeBytes / (double) (1L << 30), version(driverVersion), version(runtimeVersion));
    }
}
