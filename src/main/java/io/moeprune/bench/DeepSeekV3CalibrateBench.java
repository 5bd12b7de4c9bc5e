package io.moeprune.bench;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.io.ProcessIo;
import io.moeprune.kernels.Fp8PanelCache;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.LayerProgress;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PhaseTimes;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Layer-major calibration of a DeepSeek-V3-shaped FP8 checkpoint ({@link RandomDeepSeekV3}), layer by layer: wall time,
 * bytes read from storage and, with {@code -Dmoeprune.phases=true}, attention against experts per layer; the peak
 * resident set; and the projection to the full model (3 dense + 58 MoE layers) against the goal of issue 20 (the
 * whole calibration of 8 × 2048 tokens under 20 minutes on the GPU machine's 16 cores).
 *
 * <pre>
 * bench/run deepSeekV3Calibrate DIR --generate [--shape name=value,...]   # writes the checkpoint, then exits
 * bench/run deepSeekV3Calibrate DIR [--demos 8] [--tokens 2048] [--threads N] [--shape ...]
 * bench/run deepSeekV3Calibrate DIR --device cuda|host [--demos 8] [--tokens 2048]   # issue 22: on one GPU
 * </pre>
 * {@code --device} runs the calibration on the GPU runtime instead ({@link DeepSeekV3GpuCalibration}: per layer wall,
 * copy and compute, the projection against 10 minutes on one H100; {@code host} is HostOps, for a local check).
 * {@code --shape} changes {@link RandomDeepSeekV3.Shape#FULL} (e.g. {@code hidden=1024,experts=32,moeLayers=2}). The
 * calibration first warms the JIT on a tiny checkpoint of the same family beside DIR (generated there), so that the
 * timed run reads DIR once, cold if the caller dropped the page cache (bench/device/deepseek_v3_calibrate.sh does).
 */
public final class DeepSeekV3CalibrateBench {
    /** The full model: 3 dense and 58 MoE layers. */
    static final int FULL_DENSE = 3, FULL_MOE = 58;
    private static final double GOAL_SECONDS = 20 * 60;
    private static final String WARM_SHAPE = "hidden=256,moeLayers=1,heads=4,qLora=64,kvLora=64,rope=32,nope=32,v=32,"
            + "experts=16,groups=4,topkGroup=2,topK=4,moeInter=128,denseInter=256,vocab=512";

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: bench/run deepSeekV3Calibrate DIR [--generate] [--shape name=value,...]"
                    + " [--demos 8] [--tokens 2048] [--threads N]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        boolean generate = false;
        String overrides = "";
        String device = null;
        int demos = 8, tokens = 2048;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--generate" -> generate = true;
                case "--device" -> {
                    device = args[++i];
                    if (!device.equals("cuda") && !device.equals("host")) {
                        System.err.println("--device " + device + ": cuda (cuda:0) or host (HostOps, for a local check)");
                        System.exit(2);
                    }
                }
                case "--shape" -> overrides = args[++i];
                case "--demos" -> demos = Integer.parseInt(args[++i]);
                case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[++i]));
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        RandomDeepSeekV3.Shape shape = RandomDeepSeekV3.Shape.FULL.with(overrides);
        if (generate) {
            long t0 = System.nanoTime();
            long bytes = RandomDeepSeekV3.write(dir, shape, 42);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "generated %s: %s%n  %.2f GB in %.1f s (%.2f GB/s, before the page cache is"
                    + " written back)%n", dir, shape, bytes / 1e9, s, bytes / 1e9 / s);
            return;
        }
        Path warm = dir.resolveSibling(dir.getFileName() + "-warmup");
        if (device != null) {
            if (!Files.exists(warm)) RandomDeepSeekV3.write(warm, RandomDeepSeekV3.Shape.FULL.with(WARM_SHAPE), 7);
            try {
                DeepSeekV3GpuCalibration.run(device, dir, warm, demos, tokens, System.out);
            } catch (io.moeprune.MoepruneException e) {
                // No CUDA device or libraries, or the layer slots do not fit the device: one line.
                System.err.println(e.getMessage());
                System.exit(2);
            }
            return;
        }
        warmUp(warm);
        try (Model model = Models.open(dir)) {
            calibrate(model, demos, tokens);
        }
    }

    /** The JIT compiled on a tiny checkpoint of the same kind (FP8 panels, MLA, grouped routing), not on DIR. */
    private static void warmUp(Path warm) throws Exception {
        if (!Files.exists(warm)) RandomDeepSeekV3.write(warm, RandomDeepSeekV3.Shape.FULL.with(WARM_SHAPE), 7);
        try (Model model = Models.open(warm)) {
            Calibrator c = new Calibrator(model);
            for (int i = 0; i < 3; i++) {
                List<int[]> ids = randomDemos(4, 256, model.spec().vocabSize(), i);
                c.run(ids, names(ids), "", "", n -> { });
            }
        }
        PhaseTimes.take();
    }

    private static void calibrate(Model model, int demos, int tokens) {
        int layers = model.layers().size();
        int dense = layers - model.spec().moeLayers().size();
        System.out.printf(Locale.ROOT, "checkpoint %.2f GB, %d layers (%d dense), %d threads, kernels %s%n"
                        + "calibrating %d × %d random tokens layer-major%n", model.checkpointBytes() / 1e9, layers,
                dense, Parallel.threads(), Kernels.get().description(), demos, tokens);
        System.out.printf(Locale.ROOT, "%-6s %-6s %9s %9s %9s %9s %9s%n", "layer", "kind", "wall s", "read GB",
                "attn s", "experts s", "mlp s");
        List<int[]> ids = randomDemos(demos, tokens, model.spec().vocabSize(), 1);
        double[] seconds = new double[layers];
        long[] last = {0, 0};
        long[] phaseSums = new long[PhaseTimes.Phase.values().length];
        int[] layer = {0};
        long readBefore = ProcessIo.readBytes(), t0 = System.nanoTime();
        ExpertStats stats = new Calibrator(model).run(ids, names(ids), "", "", n -> { }, (LayerProgress p) -> {
            int l = layer[0]++;
            seconds[l] = (p.nanos() - last[0]) / 1e9;
            long[] phases = PhaseTimes.take();
            for (int i = 0; i < phases.length; i++) phaseSums[i] += phases[i];
            System.out.printf(Locale.ROOT, "%-6d %-6s %9.2f %9.2f %s%n", l, l < dense ? "dense" : "moe", seconds[l],
                    (p.bytesRead() - last[1]) / 1e9, phaseColumns(phases));
            last[0] = p.nanos();
            last[1] = p.bytesRead();
        });
        double wall = (System.nanoTime() - t0) / 1e9;
        long read = ProcessIo.readBytes() - readBefore;
        if (PhaseTimes.ON) System.out.print("phases of the calling thread, all layers:\n" + PhaseTimes.table(phaseSums));
        double denseMean = mean(seconds, 0, dense), moeMean = mean(seconds, dense, layers);
        double projected = FULL_DENSE * denseMean + FULL_MOE * moeMean;
        System.out.printf(Locale.ROOT, "total %.1f s, read %.2f GB (%.2f× the checkpoint), peak resident %.2f GB,"
                        + " experts routed to %s%n", wall, read / 1e9, (double) read / model.checkpointBytes(),
                LayerMajorBench.peakResident() / 1e9, LayerMajorBench.expertsRouted(stats));
        System.out.printf(Locale.ROOT, "FP8 weights kept dequantised for a layer's sequences: up to %.2f GB a layer"
                + " (Fp8PanelCache; 0 without the tiles or with -Dmoeprune.fp8PanelCache=false)%n",
                Fp8PanelCache.mostKeptBytes() / 1e9);
        System.out.printf(Locale.ROOT, "projection for DeepSeek-V3 (%d dense × %.2f s + %d MoE × %.2f s): %.0f s = %.1f"
                        + " min, goal %.0f min: %s%n", FULL_DENSE, denseMean, FULL_MOE, moeMean, projected,
                projected / 60, GOAL_SECONDS / 60, projected <= GOAL_SECONDS ? "met" : "NOT met");
    }

    /** Attention, experts (router, routed and shared) and dense MLP seconds of a layer, or dashes without phases. */
    private static String phaseColumns(long[] t) {
        if (!PhaseTimes.ON) return String.format(Locale.ROOT, "%9s %9s %9s", "-", "-", "-");
        long attention = 0, experts = 0;
        for (PhaseTimes.Phase p : new PhaseTimes.Phase[] {PhaseTimes.Phase.NORM, PhaseTimes.Phase.QKV,
                PhaseTimes.Phase.QK_NORM_ROPE, PhaseTimes.Phase.ATTEND, PhaseTimes.Phase.O_PROJ}) {
            attention += t[p.ordinal()];
        }
        for (PhaseTimes.Phase p : new PhaseTimes.Phase[] {PhaseTimes.Phase.ROUTER, PhaseTimes.Phase.EXPERT_GATHER,
                PhaseTimes.Phase.EXPERT_GATE_UP, PhaseTimes.Phase.EXPERT_DOWN, PhaseTimes.Phase.SHARED_EXPERT}) {
            experts += t[p.ordinal()];
        }
        return String.format(Locale.ROOT, "%9.2f %9.2f %9.2f", attention / 1e9, experts / 1e9,
                t[PhaseTimes.Phase.DENSE_MLP.ordinal()] / 1e9);
    }

    private static double mean(double[] v, int from, int to) {
        return to > from ? Arrays.stream(v, from, to).sum() / (to - from) : 0;
    }

    /** Demonstration names for the statistics (their token ids). */
    private static List<String> names(List<int[]> ids) {
        return ids.stream().map(Arrays::toString).toList();
    }

    static List<int[]> randomDemos(int count, int tokens, int vocab, long seed) {
        Random r = new Random(seed);
        List<int[]> demos = new ArrayList<>();
        for (int i = 0; i < count; i++) demos.add(r.ints(tokens, 0, vocab).toArray());
        return demos;
    }
}
