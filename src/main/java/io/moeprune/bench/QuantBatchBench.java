package io.moeprune.bench;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Batched products of quantised expert matrices against BF16 ones, on one thread (GFLOP/s per core), in one process,
 * the variants alternated round by round: BF16 weights; FP8 E4M3 with 128×128 block scales through BF16 panels
 * ({@code -Dmoeprune.quantPanels}, the default); FP8 the old way (F32 register tiles); and for gpt-oss's MXFP4 shape,
 * MXFP4 panels and MXFP4 rows decoded to F32. Each call prepares (packs) its batch, as an MoE block does. Shapes:
 * DeepSeek-V3's expert gate/up [2048 × 7168] and down [7168 × 2048], gpt-oss's gate_up [5760 × 2880] and down
 * [2880 × 2880]. Prints each variant's median GFLOP/s and the median of its per-round ratio to BF16.
 *
 * <pre>bench/run quantBatch [--rows 64,256,1024] [--rounds 5] [--panel-bytes N] [--shapes ds3,gptoss]</pre>
 * Where the CPU has no AMX tiles the panels are not used (FP8 panels = FP8 F32): there the ratio to BF16 is the figure.
 */
public final class QuantBatchBench {
    /** A product to time: its name, its matrix rows × cols, and the call. */
    private record Variant(String name, int rows, int cols, Product product) {
    }

    @FunctionalInterface
    private interface Product {
        /** One call on a transposed batch of n inputs (packed here, as an MoE block packs each expert's batch). */
        void run(Kernels k, float[] xT, int n, int stride, float[] yT);
    }

    public static void main(String[] args) {
        int[] tokenCounts = {64, 256, 1024};
        int rounds = 5;
        List<String> shapes = List.of("ds3", "gptoss");
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--rows" -> tokenCounts = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                case "--panel-bytes" -> KernelSwitches.panelBytes(Integer.parseInt(args[i + 1]));
                case "--shapes" -> shapes = List.of(args[i + 1].split(","));
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Parallel.setThreads(1);
        Kernels k = Kernels.get();
        System.out.printf("kernels %s, 1 thread, %d rounds alternated%n", k.description(), rounds);
        System.out.printf("%-32s %6s %10s %9s %9s%n", "product", "n", "ms/call", "GFLOP/s", "× BF16");
        try (Arena arena = Arena.ofShared()) {
            List<List<Variant>> groups = new ArrayList<>();
            if (shapes.contains("ds3")) {
                groups.add(fp8Group(arena, 2048, 7168));
                groups.add(fp8Group(arena, 7168, 2048));
            }
            if (shapes.contains("gptoss")) {
                groups.add(mxfp4Group(arena, 5760, 2880));
                groups.add(mxfp4Group(arena, 2880, 2880));
            }
            for (List<Variant> group : groups) {
                for (int n : tokenCounts) measure(k, group, n, rounds);
            }
        }
    }

    /** BF16, FP8 panels and FP8 F32 of one [rows × cols] shape. */
    private static List<Variant> fp8Group(Arena arena, int rows, int cols) {
        Weights bf16 = Roofline.randomWeights(arena, DType.BF16, rows, cols, 1);
        Weights fp8 = Roofline.randomWeights(arena, DType.F8_E4M3, rows, cols, 2);
        String shape = " [" + rows + "x" + cols + "]";
        return List.of(new Variant("BF16" + shape, rows, cols, weights(bf16, true)),
                new Variant("FP8 panels" + shape, rows, cols, weights(fp8, true)),
                new Variant("FP8 F32 (old)" + shape, rows, cols, weights(fp8, false)));
    }

    /** BF16, MXFP4 panels and MXFP4 F32 rows of one [rows × cols] shape (columns in MXFP4's deinterleaved order). */
    private static List<Variant> mxfp4Group(Arena arena, int rows, int cols) {
        Weights bf16 = Roofline.randomWeights(arena, DType.BF16, rows, cols, 3);
        Mxfp4Matrix mx = GptOssExpertsBench.randomMxfp4(arena, rows, cols, 4);
        String shape = " [" + rows + "x" + cols + "]";
        return List.of(new Variant("BF16" + shape, rows, cols, weights(bf16, true)),
                new Variant("MXFP4 panels" + shape, rows, cols, mxfp4(mx, true)),
                new Variant("MXFP4 F32 (old)" + shape, rows, cols, mxfp4(mx, false)));
    }

    private static Product weights(Weights w, boolean panels) {
        TransposedBatch[] reuse = {null};
        return (k, xT, n, stride, yT) -> {
            KernelSwitches.quantPanels(panels);
            reuse[0] = k.prepare(xT, n, stride, w.cols(), w.dtype(), reuse[0]);
            k.matMulT(w, 0, w.rows(), reuse[0], yT, 0);
        };
    }

    private static Product mxfp4(Mxfp4Matrix w, boolean panels) {
        TransposedBatch[] reuse = {null};
        return (k, xT, n, stride, yT) -> {
            KernelSwitches.quantPanels(panels);
            reuse[0] = k.prepare(xT, n, stride, w.cols(), panels ? DType.BF16 : DType.F32, reuse[0]);
            k.mxfp4MatMulT(w, 0, w.rows(), reuse[0], yT, 0);
        };
    }

    /** The group's variants on n inputs, alternated for {@code rounds} rounds after one warm-up round. */
    private static void measure(Kernels k, List<Variant> group, int n, int rounds) {
        int rows = group.getFirst().rows(), cols = group.getFirst().cols(), stride = k.batchStride(n);
        float[] xT = Roofline.randomFloats(cols * stride, n);
        float[] yT = new float[rows * stride];
        double flop = 2.0 * rows * cols * n;
        double[][] seconds = new double[group.size()][rounds];
        for (int round = -1; round < rounds; round++) {
            for (int v = 0; v < group.size(); v++) {
                Product p = group.get(v).product();
                // At least 0.2 s per sample (one call of the largest shapes is longer), 1 s of warm-up for C2.
                double s = sample(() -> p.run(k, xT, n, stride, yT), round < 0 ? 1.0 : 0.2);
                if (round >= 0) seconds[v][round] = s;
            }
        }
        KernelSwitches.quantPanels(true);
        for (int v = 0; v < group.size(); v++) {
            double[] ratio = new double[rounds];
            for (int r = 0; r < rounds; r++) ratio[r] = seconds[0][r] / seconds[v][r];
            double median = median(seconds[v]);
            System.out.printf("%-32s %6d %10.2f %9.1f %9.2f%n", group.get(v).name(), n, median * 1e3,
                    flop / median / 1e9, median(ratio));
        }
    }

    /** Seconds per call of body, repeated for at least minSeconds. */
    private static double sample(Runnable body, double minSeconds) {
        long start = System.nanoTime(), end = start + (long) (minSeconds * 1e9);
        int calls = 0;
        long now;
        do {
            body.run();
            calls++;
            now = System.nanoTime();
        } while (now < end);
        return (now - start) / 1e9 / calls;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
