package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Mxfp4Matrix;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;
import io.moeprune.runtime.GptOssExperts;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.TreeSet;

/**
 * gpt-oss's experts ({@link GptOssExperts}) on random weights of gpt-oss-20b's shape (hidden 2880, 32 experts, top-4),
 * one MoE layer, stored as BF16 input-major tensors or as the released checkpoints' MXFP4: one token (decode) and a
 * batch, with the bytes of expert weights read per second and the arithmetic rate.
 *
 * <pre>bench/run gptOssExperts [--format bf16|mxfp4] [--threads N] [--tokens 64]</pre>
 */
public final class GptOssExpertsBench {
    private static final int EXPERTS = 32, HIDDEN = 2880, INTER = 2880, TOP_K = 4;

    public static void main(String[] args) {
        int batch = 64;
        String format = "bf16";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[i + 1]));
                case "--tokens" -> batch = Integer.parseInt(args[i + 1]);
                case "--format" -> format = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (Arena arena = Arena.ofShared()) {
            GptOssExperts experts;
            long bytesPerExpert;
            if (format.equals("mxfp4")) {
                Mxfp4Matrix[] gateUp = new Mxfp4Matrix[EXPERTS], down = new Mxfp4Matrix[EXPERTS];
                for (int e = 0; e < EXPERTS; e++) {
                    gateUp[e] = randomMxfp4(arena, 2 * INTER, HIDDEN, e);
                    down[e] = randomMxfp4(arena, HIDDEN, INTER, 100 + e);
                }
                experts = GptOssExperts.mxfp4(gateUp, new float[EXPERTS * 2 * INTER], down, new float[EXPERTS * HIDDEN],
                        1.702f, 7f);
                bytesPerExpert = gateUp[0].byteSize() + down[0].byteSize();
            } else if (format.equals("bf16")) {
                Weights[] gateUp = new Weights[EXPERTS], down = new Weights[EXPERTS];
                for (int e = 0; e < EXPERTS; e++) {
                    gateUp[e] = Roofline.randomWeights(arena, DType.BF16, HIDDEN, 2 * INTER, e);
                    down[e] = Roofline.randomWeights(arena, DType.BF16, INTER, HIDDEN, 100 + e);
                }
                experts = GptOssExperts.inputMajor(gateUp, new float[EXPERTS * 2 * INTER], down,
                        new float[EXPERTS * HIDDEN], 1.702f, 7f);
                bytesPerExpert = gateUp[0].byteSize() + down[0].byteSize();
            } else {
                throw new IllegalArgumentException("--format is bf16 or mxfp4, not " + format);
            }
            System.out.printf("kernels %s, threads %d; %d experts [%d x %d] + [%d x %d] %s, top-%d%n",
                    Kernels.get().description(), Parallel.threads(), EXPERTS, HIDDEN, 2 * INTER, INTER, HIDDEN,
                    format.toUpperCase(), TOP_K);
            System.out.printf("%-10s %14s %16s %10s%n", "tokens", "ms per layer", "weights GB/s", "GFLOP/s");
            for (int n : new int[]{1, batch}) measure(experts, bytesPerExpert, n);
        }
    }

    /** Random FP4 bytes with scales 2^-7..2^-4 (values up to ±0.4, as trained experts' are). */
    static Mxfp4Matrix randomMxfp4(Arena arena, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        long groups = (long) rows * cols / Mxfp4Matrix.GROUP;
        MemorySegment blocks = arena.allocate(groups * Mxfp4Matrix.GROUP_BYTES, 64), scales = arena.allocate(groups, 64);
        byte[] pattern = new byte[1 << 16];
        rnd.nextBytes(pattern);
        for (long o = 0; o < blocks.byteSize(); o += pattern.length) {
            MemorySegment.copy(pattern, 0, blocks, ValueLayout.JAVA_BYTE, o, (int) Math.min(pattern.length, blocks.byteSize() - o));
        }
        for (long g = 0; g < groups; g++) scales.set(ValueLayout.JAVA_BYTE, g, (byte) (120 + rnd.nextInt(4)));
        return new Mxfp4Matrix(blocks, scales, rows, cols);
    }

    private static void measure(GptOssExperts experts, long bytesPerExpert, int n) {
        Random rnd = new Random(n);
        int[] ids = new int[n * TOP_K];
        for (int t = 0; t < n; t++) {
            TreeSet<Integer> chosen = new TreeSet<>();
            while (chosen.size() < TOP_K) chosen.add(rnd.nextInt(EXPERTS));
            int j = 0;
            for (int e : chosen) ids[t * TOP_K + j++] = e;
        }
        int[] start = new int[EXPERTS + 1];
        for (int id : ids) start[id + 1]++;
        for (int e = 0; e < EXPERTS; e++) start[e + 1] += start[e];
        int[] order = new int[n * TOP_K], fill = Arrays.copyOf(start, EXPERTS);
        for (int slot = 0; slot < ids.length; slot++) order[fill[ids[slot]]++] = slot;
        float[] xn = Roofline.randomFloats(n * HIDDEN, 5), weights = new float[n * TOP_K], routed = new float[n * HIDDEN];
        Arrays.fill(weights, 1f / TOP_K);
        int active = 0;
        for (int e = 0; e < EXPERTS; e++) if (start[e + 1] > start[e]) active++;
        double seconds = Roofline.medianSeconds(() -> experts.run(xn, n, TOP_K, start, order, weights, routed, null), 1.0, 5);
        double bytes = (double) active * bytesPerExpert;
        double flops = 2.0 * n * TOP_K * (HIDDEN * 2.0 * INTER + (double) INTER * HIDDEN);
        System.out.printf("%-10d %14.1f %16.1f %10.1f%n", n, seconds * 1e3, bytes / seconds / 1e9, flops / seconds / 1e9);
    }
}
