package io.moeprune.bench;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.gpu.DeviceChoice;
import io.moeprune.gpu.GpuDevice;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.runtime.GpuLayerMajorPass;
import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Calibration on the GPU runtime against the CPU's, in one process: tokens per second of the same layer-major
 * calibration (random token sequences) on the CPU (the baseline), on cuda:0 with its whole memory, and on cuda:0 under
 * each {@code --gpu-memory} bound (smaller than the checkpoint: the layers stream through two slots); the ratio to the
 * CPU, the device's peak bytes, and how far the statistics are from the CPU's (the largest relative L2 error of a
 * statistic's [layer, expert] sums). Without CUDA it says what is missing in one line (exit 2).
 *
 * <p>Usage: bench/run gpuPass MODEL_DIR [--demos 32] [--tokens 256] [--gpu-memory 0,2GB] (0: the whole device);
 * a MODEL_DIR that does not exist gets a random 1.1 GB checkpoint (LayerMajorBench's shape).
 */
public final class GpuPassBench {
    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length % 2 == 0) {
            System.err.println("usage: bench/run gpuPass MODEL_DIR [--demos 32] [--tokens 256] [--gpu-memory 0,2GB]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int demos = 32, tokens = 256;
        List<Long> bounds = new ArrayList<>(List.of(0L));
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--demos" -> demos = Integer.parseInt(args[i + 1]);
                case "--tokens" -> tokens = Integer.parseInt(args[i + 1]);
                case "--gpu-memory" -> bounds = Arrays.stream(args[i + 1].split(","))
                        .map(s -> s.equals("0") ? 0L : ByteSize.parse(s)).toList();
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!Files.exists(dir)) RandomMoeModel.write(dir, LayerMajorBench.SMALL, 42, LayerMajorBench.EMBEDDING_SCALE);
        try (Model model = Models.open(dir)) {
            Random r = new Random(7);
            List<int[]> seqs = new ArrayList<>();
            for (int d = 0; d < demos; d++) seqs.add(r.ints(tokens, 0, model.spec().vocabSize()).toArray());
            List<String> names = seqs.stream().map(s -> Integer.toString(Arrays.hashCode(s))).toList();
            long total = (long) demos * tokens;
            System.out.printf(Locale.ROOT, "%s: checkpoint %.2f GB, %d layers, %d demonstrations x %d tokens, %s%n",
                    dir, model.checkpointBytes() / 1e9, model.layers().size(), demos, tokens, java.time.Instant.now());
            System.out.printf(Locale.ROOT, "%-22s %9s %10s %8s %12s %10s%n", "device", "wall s", "tok/s", "x cpu",
                    "peak dev GB", "stat err");
            PrefillPasses.reset();
            Calibrator calibrator = new Calibrator(model);
            calibrator.run(seqs.subList(0, 1), names.subList(0, 1), "", "", n -> { });   // JIT warm-up
            long t0 = System.nanoTime();
            ExpertStats cpu = calibrator.run(seqs, names, "", "", n -> { });
            double cpuSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "%-22s %9.2f %10.0f %8s %12s %10s%n", "cpu", cpuSeconds, total / cpuSeconds,
                    "1.00", "-", "-");
            for (long bound : bounds) {
                try (CudaOps ops = new CudaOps(GpuDevice.open(new DeviceChoice(DeviceChoice.Kind.CUDA, 0), bound))) {
                    long limit = ops.device().limitBytes();
                    PrefillPasses.use((m, mask, logits) -> new GpuLayerMajorPass(m, mask, logits, ops, limit), "cuda:0");
                    calibrator.run(seqs.subList(0, 1), names.subList(0, 1), "", "", n -> { });   // kernels compiled
                    t0 = System.nanoTime();
                    ExpertStats gpu = calibrator.run(seqs, names, "", "", n -> { });
                    double s = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "%-22s %9.2f %10.0f %8.2f %12.2f %10.2e%n",
                            "cuda:0 " + (bound == 0 ? "whole" : ByteSize.format(bound)), s, total / s, cpuSeconds / s,
                            ops.peakBytes() / 1e9, statError(cpu, gpu));
                } catch (MoepruneException e) {
                    System.out.println("cuda:0 " + (bound == 0 ? "whole" : ByteSize.format(bound)) + ": " + e.getMessage());
                    if (e.getMessage().startsWith("--device cuda:")) System.exit(2);
                } finally {
                    PrefillPasses.reset();
                }
            }
        }
    }

    private static double statError(ExpertStats a, ExpertStats b) {
        double worst = 0;
        for (Statistic stat : Statistic.values()) {
            double[][] x = a.aggregate(stat), y = b.aggregate(stat);
            for (int l = 0; l < x.length; l++) {
                double num = 0, den = 0;
                for (int e = 0; e < x[l].length; e++) {
                    num += (x[l][e] - y[l][e]) * (x[l][e] - y[l][e]);
                    den += x[l][e] * x[l][e];
                }
                worst = Math.max(worst, den == 0 ? Math.sqrt(num) : Math.sqrt(num / den));
            }
        }
        return worst;
    }
}
