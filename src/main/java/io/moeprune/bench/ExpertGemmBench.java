package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;

/**
 * Per-core efficiency of the batched kernels on MoE shapes: {@link Kernels#matMulT} on one expert's gate/up
 * ([intermediate, hidden]) and down ([hidden, intermediate]) matrices for the token counts an expert sees in
 * prefill (including the per-batch packing that the AMX tiles need), and the dense {@link Kernels#matMul}, all on one
 * thread, against the register-only F32 FMA peak (the AMX tiles, where used, can exceed it).
 *
 * <pre>bench/run expertGemm [--hidden 2048] [--inter 256]</pre>
 */
public final class ExpertGemmBench {
    public static void main(String[] args) {
        int hidden = 2048, inter = 256;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--hidden" -> hidden = Integer.parseInt(args[i + 1]);
                case "--inter" -> inter = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Parallel.setThreads(1);
        Kernels k = Kernels.get();
        Roofline.Rate peak = Roofline.fmaPeak(0.5);
        System.out.printf("kernels %s, 1 thread, F32 FMA peak %.1f GFLOP/s (per CPU s %.1f)%n", k.description(),
                peak.wall(), peak.cpu());
        System.out.printf("%-34s %6s %10s %9s %8s%n", "product", "n", "µs/call", "GFLOP/s", "of peak");
        try (Arena arena = Arena.ofShared()) {
            for (DType d : new DType[]{DType.BF16, DType.F32}) {
                Weights gate = Roofline.randomWeights(arena, d, inter, hidden, 1);
                Weights down = Roofline.randomWeights(arena, d, hidden, inter, 2);
                for (int n : new int[]{1, 4, 8, 16, 24, 32, 48, 64}) {
                    row(k, "matMulT " + d + " [" + inter + "x" + hidden + "]", gate, n, peak);
                    row(k, "matMulT " + d + " [" + hidden + "x" + inter + "]", down, n, peak);
                }
            }
            Weights dense = Roofline.randomWeights(arena, DType.BF16, 2048, 2048, 3);
            for (int n : new int[]{16, 64, 128, 256}) {
                float[] x = Roofline.randomFloats(n * 2048, 4);
                float[] out = new float[n * 2048];
                Roofline.Timing t = Roofline.timing(() -> k.matMul(dense, x, n, out), 0.3, 5);
                print("matMul BF16 [2048x2048]", n, t, 2.0 * 2048 * 2048 * n, peak);
            }
        }
    }

    private static void row(Kernels k, String what, Weights w, int n, Roofline.Rate peak) {
        int stride = k.batchStride(n);
        float[] xT = Roofline.randomFloats(w.cols() * stride, n);
        float[] yT = new float[w.rows() * stride];
        // As an MoE block runs it: the batch prepared (packed, for the AMX tiles) once per call, then the product.
        TransposedBatch[] reuse = {null};
        Roofline.Timing t = Roofline.timing(() -> {
            reuse[0] = k.prepare(xT, n, stride, w.cols(), w.dtype(), reuse[0]);
            k.matMulT(w, 0, w.rows(), reuse[0], yT, 0);
        }, 0.3, 5);
        print(what, n, t, 2.0 * w.rows() * w.cols() * n, peak);
    }

    private static void print(String what, int n, Roofline.Timing t, double flop, Roofline.Rate peak) {
        double gflops = flop / t.wallSeconds() / 1e9;
        System.out.printf("%-34s %6d %10.1f %9.1f %7.0f%%%n", what, n, t.wallSeconds() * 1e6, gflops,
                100 * gflops / peak.wall());
    }
}
