package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code bench/run kernels [--threads N] [--quick]}: the kernels against this machine's rooflines.
 * <ol>
 *   <li>read bandwidth of a large off-heap buffer, 1 thread and N threads (the decode ceiling);</li>
 *   <li>matVec per dtype on a decode-sized 4096×4096 matrix and on a pool of 128×256 MoE-expert matrices (cycled
 *       so they come from memory, as distinct experts do): GB/s of weight bytes and % of the bandwidth;</li>
 *   <li>matMul GFLOP/s for prefill batches of 64 and 256 rows on 2048×2048 weights, against the F32 FMA peak and a
 *       cache-resident F32 GEMM (the prefill ceiling); scalar vs vector.</li>
 * </ol>
 */
public final class KernelsBench {
    private static final double MIN_SECONDS = 0.25;

    private KernelsBench() {
    }

    public static void main(String[] args) {
        int threads = Parallel.threads();
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                default -> {
                    System.err.println("usage: bench/run kernels [--threads N] [--quick]");
                    System.exit(2);
                }
            }
        }
        double minSeconds = quick ? 0.08 : MIN_SECONDS;
        Kernels scalar = Kernels.named("scalar"), vector = Kernels.named("vector");
        int[] threadCounts = threads == 1 ? new int[]{1} : new int[]{1, threads};
        System.out.printf("kernels bench: %d threads, vector = %s, %d processors, java %s%n", threads,
                vector.description(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));

        try (Arena arena = Arena.ofShared()) {
            warmUp(arena, scalar, vector, quick ? 1.5 : 4);
            // (a) rooflines
            MemorySegment big = Roofline.randomBytes(arena, quick ? 256L << 20 : 1L << 30, 1);
            // Per wall second for every thread count; for 1 thread also per CPU second of the (only) working
            // thread, which discounts time the OS gave to other processes on a shared machine.
            Roofline.Rate[] bw = new Roofline.Rate[threads + 1];
            Roofline.Rate[] fma = new Roofline.Rate[threads + 1];
            System.out.println();
            System.out.printf("%-46s %7s %12s %12s%n", "roofline", "threads", "per wall s", "per cpu s");
            for (int t : threadCounts) {
                Parallel.setThreads(t);
                bw[t] = Roofline.readBandwidth(big, minSeconds);
                rooflineRow("read GB/s (" + (big.byteSize() >> 20) + " MiB buffer)", t, bw[t]);
            }
            for (int t : threadCounts) {
                Parallel.setThreads(t);
                fma[t] = Roofline.fmaPeak(minSeconds);
                rooflineRow("F32 FMA peak GFLOP/s (registers only)", t, fma[t]);
            }
            for (int t : threadCounts) {
                Parallel.setThreads(t);
                rooflineRow("F32 GEMM GFLOP/s 512x512 x128 in cache", t, Roofline.gemmF32(vector, minSeconds));
            }

            // (b) decode: matVec
            System.out.println();
            System.out.printf("%-30s %-7s %7s %11s %9s %8s %9s %8s%n", "matVec (decode)", "kernels", "threads",
                    "us/call", "GB/s", "% of BW", "cpu GB/s", "% of BW");
            DType[] dtypes = {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3};
            for (DType d : dtypes) {
                Weights w = Roofline.randomWeights(arena, d, 4096, 4096, 2);
                float[] x = Roofline.randomFloats(4096, 3);
                float[] out = new float[4096];
                for (Kernels k : List.of(scalar, vector)) {
                    for (int t : threadCounts) {
                        Parallel.setThreads(t);
                        Roofline.Timing s = Roofline.timing(() -> k.matVec(w, x, 0, out, 0), minSeconds, 5);
                        row("4096x4096 " + d, k, t, s, w.byteSize(), bw[t]);
                    }
                }
            }
            for (DType d : dtypes) {
                // 128x256 experts, enough distinct ones (≥ 64 MiB in all) that they stream from memory.
                int count = (int) Math.max(256, (64L << 20) / (128L * 256 * d.byteSize()));
                List<Weights> experts = new ArrayList<>(count);
                Weights pool = Roofline.randomWeights(arena, d, 128 * count, 256, 4);
                for (int e = 0; e < count; e++) {
                    long bytes = 128L * 256 * d.byteSize();
                    MemorySegment slice = pool.data().asSlice(e * bytes, bytes);
                    float[] scales = d == DType.F8_E4M3 ? new float[]{0.01f, 0.02f} : null;
                    experts.add(new Weights(slice, d, 128, 256, scales));
                }
                float[] x = Roofline.randomFloats(256, 5);
                float[] out = new float[128];
                for (Kernels k : List.of(scalar, vector)) {
                    for (int t : threadCounts) {
                        Parallel.setThreads(t);
                        int[] next = {0};
                        Roofline.Timing s = Roofline.timing(() -> {
                            k.matVec(experts.get(next[0]), x, 0, out, 0);
                            next[0] = (next[0] + 1) % count;
                        }, minSeconds, 5);
                        row("128x256 " + d + " experts", k, t, s, experts.get(0).byteSize(), bw[t]);
                    }
                }
            }

            // (c) prefill: matMul
            System.out.println();
            System.out.printf("%-30s %-7s %7s %11s %9s %8s %9s %8s%n", "matMul (prefill)", "kernels", "threads",
                    "ms/call", "GFLOP/s", "% of FMA", "cpu GF/s", "% of FMA");
            for (DType d : new DType[]{DType.F32, DType.BF16, DType.F8_E4M3}) {
                Weights w = Roofline.randomWeights(arena, d, 2048, 2048, 6);
                for (int n : new int[]{64, 256}) {
                    float[] x = Roofline.randomFloats(n * 2048, 7);
                    float[] out = new float[n * 2048];
                    for (Kernels k : List.of(scalar, vector)) {
                        if (k == scalar && n > 64) continue;  // seconds per call; 64 shows the gap
                        for (int t : threadCounts) {
                            Parallel.setThreads(t);
                            Roofline.Timing s = Roofline.timing(() -> k.matMul(w, x, n, out), minSeconds, k == scalar ? 1 : 3);
                            double gflop = 2.0 * 2048 * 2048 * n / 1e9;
                            System.out.printf("%-30s %-7s %7d %11.2f %9.1f %7.0f%% %9s %8s%n", "2048x2048 " + d + " n=" + n,
                                    name(k), t, s.wallSeconds() * 1e3, gflop / s.wallSeconds(),
                                    100 * gflop / s.wallSeconds() / fma[t].wall(),
                                    t == 1 ? String.format("%.1f", gflop / s.cpuSeconds()) : "-",
                                    t == 1 ? String.format("%.0f%%", 100 * gflop / s.cpuSeconds() / fma[t].cpu()) : "-");
                        }
                    }
                }
            }
        }
    }

    /**
     * Runs every kernel on small inputs first so C2 has compiled them before anything is timed: interpreted
     * Vector API code is 100x slower, and on a busy machine compilation takes seconds.
     */
    private static void warmUp(Arena arena, Kernels scalar, Kernels vector, double seconds) {
        List<Weights> ws = new ArrayList<>();
        for (DType d : new DType[]{DType.F32, DType.BF16, DType.F16, DType.F8_E4M3}) {
            ws.add(Roofline.randomWeights(arena, d, 256, 512, 9));
        }
        float[] x = Roofline.randomFloats(8 * 512, 10);
        float[] out = new float[8 * 256];
        long end = System.nanoTime() + (long) (seconds * 1e9);
        int round = 0;
        while (System.nanoTime() < end || round < 3) {
            Parallel.setThreads(1 + round % 2);
            for (Weights w : ws) {
                for (Kernels k : List.of(scalar, vector)) {
                    k.matVec(w, x, 0, out, 0);
                    k.matMul(w, x, 8, out);
                }
            }
            Roofline.sink = Roofline.fmaPeak(0).wall() + out[0];
            round++;
        }
    }

    private static void row(String what, Kernels k, int threads, Roofline.Timing s, long bytes, Roofline.Rate bw) {
        double gbs = bytes / s.wallSeconds() / 1e9, cpuGbs = bytes / s.cpuSeconds() / 1e9;
        System.out.printf("%-30s %-7s %7d %11.1f %9.1f %7.0f%% %9s %8s%n", what, name(k), threads,
                s.wallSeconds() * 1e6, gbs, 100 * gbs / bw.wall(),
                threads == 1 ? String.format("%.1f", cpuGbs) : "-",
                threads == 1 ? String.format("%.0f%%", 100 * cpuGbs / bw.cpu()) : "-");
    }

    private static void rooflineRow(String what, int threads, Roofline.Rate r) {
        System.out.printf("%-46s %7d %12.1f %12s%n", what, threads, r.wall(), threads == 1 ? String.format("%.1f", r.cpu()) : "-");
    }

    private static String name(Kernels k) {
        return k.description().startsWith("scalar") ? "scalar" : "vector";
    }
}
