package io.moeprune.bench;

import io.moeprune.kernels.Batches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * How a prefill's batched products scale with threads, and what of them is not the tile or register kernel:
 * q/k/v of the 1.9 B benchmark model ([2048 + 512 + 512] × 2048 BF16) at a 256-token batch, timed as
 * {@link Kernels#matMulAll} runs it (input transposed, packed, the product, each block's result scattered back into
 * token rows) and part by part (the transpose; the transpose and packing; the product into the transposed layout
 * without the scatter); and one expert's gate [256 × 2048] at 32 tokens (a 256-token prompt's share per expert),
 * packed and multiplied as the MoE block does. GFLOP/s per thread, so perfect scaling keeps a column level.
 *
 * <pre>bench/run batchScaling [--threads 1,2,4,8,16] [--tokens 256]</pre>
 */
public final class BatchScalingBench {
    private BatchScalingBench() {
    }

    public static void main(String[] args) {
        int[] threads = {1, 2, 4, 8, 16};
        int tokensArg = 256;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = java.util.Arrays.stream(args[i + 1].split(","))
                        .mapToInt(Integer::parseInt).toArray();
                case "--tokens" -> tokensArg = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        int n = tokensArg, hidden = 2048;
        try (Arena arena = Arena.ofShared()) {
            List<Weights> qkv = List.of(Roofline.randomWeights(arena, DType.BF16, 2048, hidden, 1),
                    Roofline.randomWeights(arena, DType.BF16, 512, hidden, 2),
                    Roofline.randomWeights(arena, DType.BF16, 512, hidden, 3));
            Weights gate = Roofline.randomWeights(arena, DType.BF16, 256, hidden, 4);
            int rows = 3072, expertTokens = Math.max(1, n / 8);
            float[] x = Roofline.randomFloats(n * hidden, 5);
            List<float[]> outs = List.of(new float[n * 2048], new float[n * 512], new float[n * 512]);
            System.out.printf("kernels %s; GFLOP/s per thread (ms per call)%n", Kernels.get().description());
            System.out.printf("%8s %22s %14s %18s %22s %22s%n", "threads", "q/k/v matMulAll", "transpose",
                    "transpose+pack", "q/k/v product only", "expert gate, " + expertTokens + " tok");
            for (int t : threads) {
                Parallel.setThreads(t);
                Kernels k = Kernels.get();
                int stride = k.batchStride(n);
                float[][] xT = {null};
                TransposedBatch[] batch = {null};
                double flop = 2.0 * rows * hidden * n;
                Roofline.Timing all = Roofline.timing(() -> k.matMulAll(qkv, x, n, outs), 0.5, 5);
                Roofline.Timing transpose = Roofline.timing(
                        () -> xT[0] = Batches.transposed(x, n, hidden, stride, xT[0]), 0.3, 5);
                Roofline.Timing packed = Roofline.timing(() -> {
                    xT[0] = Batches.transposed(x, n, hidden, stride, xT[0]);
                    batch[0] = k.batch(xT[0], n, stride, hidden, DType.BF16, batch[0]);
                    TransposedBatch b = batch[0];
                    Parallel.forRange(hidden / 2, 8L * n, (from, to) -> k.pack(b, 2 * from, 2 * to));
                }, 0.3, 5);
                float[] yT = new float[rows * stride];
                TransposedBatch b = batch[0];
                Roofline.Timing product = Roofline.timing(() -> Parallel.forRange(rows / 128, 128L * hidden * n,
                        (from, to) -> {
                            for (int blk = from; blk < to; blk++) {
                                int r0 = blk * 128, m = r0 / 2048 == 0 ? 0 : 1 + (r0 - 2048) / 512;
                                Weights w = qkv.get(m);
                                int base = m == 0 ? 0 : 2048 + 512 * (m - 1);
                                k.matMulT(w, r0 - base, r0 - base + 128, b, yT, r0 * stride);
                            }
                        }), 0.5, 5);
                // One expert per thread, each its own tokens, as the prefill's whole-expert units run.
                int es = k.batchStride(expertTokens);
                float[][] ex = new float[t][];
                float[][] ey = new float[t][];
                TransposedBatch[] eb = new TransposedBatch[t];
                for (int j = 0; j < t; j++) {
                    ex[j] = Roofline.randomFloats(hidden * es, 6 + j);
                    ey[j] = new float[256 * es];
                }
                Roofline.Timing expert = Roofline.timing(() -> Parallel.forRange(t, Long.MAX_VALUE / 4 / t,
                        (from, to) -> {
                            for (int j = from; j < to; j++) {
                                eb[j] = k.prepare(ex[j], expertTokens, es, hidden, DType.BF16, eb[j]);
                                k.matMulT(gate, 0, 256, eb[j], ey[j], 0);
                            }
                        }), 0.5, 5);
                double expertFlop = 2.0 * 256 * hidden * expertTokens * t;
                System.out.printf("%8d %22s %14s %18s %22s %22s%n", t, cell(flop, all, t), ms(transpose),
                        ms(packed), cell(flop, product, t), cell(expertFlop, expert, t));
            }
        }
    }

    private static String cell(double flop, Roofline.Timing timing, int threads) {
        return String.format("%.1f (%.2f)", flop / timing.wallSeconds() / 1e9 / threads, timing.wallSeconds() * 1e3);
    }

    private static String ms(Roofline.Timing timing) {
        return String.format("%.2f", timing.wallSeconds() * 1e3);
    }
}
