package io.moeprune.bench;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.gpu.DeviceChoice;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.gpu.runtime.LayerTimes;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The GPU half of {@link DeepSeekV3CalibrateBench} (issue 22): the same layer-major calibration on cuda:0
 * ({@code --device cuda}) or on {@link HostOps} ({@code --device host}: CI and the script's local check), each layer
 * timed ({@link GpuLayerMajorPass#timed}): wall, copy (host staging + upload + FP8 dequantisation on the device) and
 * compute, GB copied; the device's peak memory; and the projection for 3 dense + 58 MoE layers against the goal of
 * 10 minutes on one H100.
 */
final class DeepSeekV3GpuCalibration {
    static final double GOAL_SECONDS = 10 * 60;
    /** HostOps' emulated device: enough for the tiny shapes it is run at. */
    private static final long HOST_LIMIT = 8L << 30;

    private DeepSeekV3GpuCalibration() {
    }

    /**
     * Calibrates {@code demos} × {@code tokens} random tokens of DIR's vocabulary on {@code device} (cuda or host),
     * after a warm-up on the tiny checkpoint {@code warm} (kernels compiled, JIT warm); prints the table on {@code out}
     * and returns the projection in seconds.
     */
    static double run(String device, Path dir, Path warm, int demos, int tokens, PrintStream out) {
        try (DeviceOps ops = open(device)) {
            long bound = ops instanceof CudaOps c ? c.device().limitBytes() : HOST_LIMIT;
            GpuLayerMajorPass[] last = new GpuLayerMajorPass[1];
            PrefillPasses.use((m, mask, logits) -> last[0] = new GpuLayerMajorPass(m, mask, logits, ops, bound).timed(),
                    device);
            try (Model model = Models.open(warm)) {
                List<int[]> warmIds = DeepSeekV3CalibrateBench.randomDemos(4, 256, model.spec().vocabSize(), 0);
                new Calibrator(model).run(warmIds, names(warmIds), "", "", n -> { });
            }
            try (Model model = Models.open(dir)) {
                int dense = model.layers().size() - model.spec().moeLayers().size();
                List<int[]> ids = DeepSeekV3CalibrateBench.randomDemos(demos, tokens, model.spec().vocabSize(), 1);
                out.printf(Locale.ROOT, "checkpoint %.2f GB, %d layers (%d dense), on %s (%s)%n"
                                + "calibrating %d × %d random tokens layer-major%n", model.checkpointBytes() / 1e9,
                        model.layers().size(), dense, device, deviceName(ops), demos, tokens);
                long t0 = System.nanoTime();
                new Calibrator(model).run(ids, names(ids), "", "", n -> { });
                double wall = (System.nanoTime() - t0) / 1e9;
                return report(last[0].layerTimes(), dense, wall, ops.peakBytes(), bound, out);
            }
        } finally {
            PrefillPasses.reset();
        }
    }

    private static DeviceOps open(String device) {
        return switch (device) {
            case "cuda" -> new CudaOps(GpuDevice.open(new DeviceChoice(DeviceChoice.Kind.CUDA, 0), 0));
            case "host" -> new HostOps(HOST_LIMIT);
            default -> throw new IllegalArgumentException("--device " + device + ": cuda or host");
        };
    }

    private static String deviceName(DeviceOps ops) {
        return ops instanceof CudaOps c ? c.device().info().name() : "HostOps, the arithmetic in Java";
    }

    /** Prints the per-layer table, the totals and the projection; returns the projection in seconds. */
    static double report(List<LayerTimes> times, int dense, double wall, long peak, long bound, PrintStream out) {
        out.printf(Locale.ROOT, "%-6s %-6s %9s %9s %9s %9s %9s %9s %9s%n", "layer", "kind", "wall s", "copy s",
                "stage s", "upload s", "dequant s", "compute s", "GB copied");
        // A layer's time in a long run is the longer of its wall time and its copy: the copy of layer L+1 overlaps
        // layer L, so a layer whose copy outlasts its neighbour's compute sets the pace (the measured MoE layer's
        // wall hides its copy behind the first layer's). The first layer's wall also holds the run's one-time setup
        // (pinned staging buffers, device allocations), counted once.
        double denseSum = 0, moeSum = 0, copied = 0, setup = 0;
        for (LayerTimes t : times) {
            boolean isDense = t.layer() < dense;
            out.printf(Locale.ROOT, "%-6d %-6s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f%n", t.layer(),
                    isDense ? "dense" : "moe", t.wallSeconds(), t.copySeconds(), t.stageSeconds(), t.uploadSeconds(),
                    t.dequantSeconds(), t.computeSeconds(), t.bytesCopied() / 1e9);
            double steady = Math.max(t.copySeconds(), t.computeSeconds());
            double paced = t == times.getFirst() ? steady : Math.max(t.wallSeconds(), t.copySeconds());
            if (t == times.getFirst()) setup = Math.max(0, t.wallSeconds() - steady);
            if (isDense) denseSum += paced;
            else moeSum += paced;
            copied += t.bytesCopied();
        }
        int moe = times.size() - dense;
        double denseMean = dense > 0 ? denseSum / dense : 0, moeMean = moe > 0 ? moeSum / moe : 0;
        double projected = setup + DeepSeekV3CalibrateBench.FULL_DENSE * denseMean
                + DeepSeekV3CalibrateBench.FULL_MOE * moeMean;
        out.printf(Locale.ROOT, "total %.1f s (host clock, warm-up excluded), %.2f GB copied, peak device memory %.2f GB"
                + " of %.2f GB%n", wall, copied / 1e9, peak / 1e9, bound / 1e9);
        out.printf(Locale.ROOT, "projection for DeepSeek-V3 (setup %.1f s + %d dense × %.2f s + %d MoE × %.2f s; a layer"
                        + " paced by the longer of its wall and its copy): %.0f s = %.1f min, goal %.0f min: %s%n",
                setup, DeepSeekV3CalibrateBench.FULL_DENSE, denseMean, DeepSeekV3CalibrateBench.FULL_MOE, moeMean,
                projected, projected / 60, GOAL_SECONDS / 60, projected <= GOAL_SECONDS ? "met" : "NOT met");
        return projected;
    }

    private static List<String> names(List<int[]> ids) {
        return ids.stream().map(java.util.Arrays::toString).toList();
    }
}
