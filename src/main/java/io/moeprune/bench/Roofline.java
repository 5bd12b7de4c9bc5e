package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

/**
 * The two ceilings a CPU inference step is judged against, measured on this machine:
 * <ul>
 *   <li>decode (one token) is bound by memory: every weight byte is read once per token, so the best matVec
 *       speed is the sustained read bandwidth ({@link #readBandwidth});</li>
 *   <li>prefill (a batch of tokens) is bound by arithmetic: the ceiling is the F32 FMA throughput
 *       ({@link #fmaPeak}), and what a plain cache-resident F32 GEMM reaches of it ({@link #gemmF32}).</li>
 * </ul>
 * Multi-threaded figures go through {@link Parallel}, the pool the kernels use, with its current thread count.
 * Timing helpers ({@link #medianSeconds}) are shared with the other benchmarks.
 */
public final class Roofline {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Keeps results alive so the JIT cannot drop the measured work. */
    public static volatile double sink;

    private Roofline() {
    }

    /** Off-heap memory (a shared arena, readable by the pool's threads), filled with repeats of random bytes. */
    public static MemorySegment randomBytes(Arena arena, long bytes, long seed) {
        MemorySegment seg = arena.allocate(bytes, 64);
        byte[] chunk = new byte[1 << 16];
        new Random(seed).nextBytes(chunk);
        for (long o = 0; o < bytes; o += chunk.length) {
            int n = (int) Math.min(chunk.length, bytes - o);
            MemorySegment.copy(chunk, 0, seg, java.lang.foreign.ValueLayout.JAVA_BYTE, o, n);
        }
        return seg;
    }

    /**
     * Weights of random but finite values in {@code dtype} (FP8 with random block scales): bytes from a Gaussian
     * so decoding sees realistic exponents, not NaNs.
     */
    public static Weights randomWeights(Arena arena, DType dtype, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        long n = (long) rows * cols;
        MemorySegment seg = arena.allocate(n * dtype.byteSize(), 64);
        // A 64K-element random pattern repeated: cheap to make for big matrices, no effect on speed.
        int pattern = 1 << 16;
        var le = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        var lef = java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long first = Math.min(n, pattern);
        for (long i = 0; i < first; i++) {
            float g = (float) (rnd.nextGaussian() * 0.02);
            switch (dtype) {
                case F32 -> seg.set(lef, 4 * i, g);
                case BF16 -> seg.set(le, 2 * i, (short) (Float.floatToRawIntBits(g) >>> 16));
                case F16 -> seg.set(le, 2 * i, Float.floatToFloat16(g));
                case F8_E4M3 -> seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (rnd.nextInt(0x7e) | (rnd.nextBoolean() ? 0x80 : 0)));
                default -> throw new IllegalArgumentException("no random " + dtype);
            }
        }
        long bytes = first * dtype.byteSize();
        for (long o = bytes; o < n * dtype.byteSize(); o += bytes) {
            MemorySegment.copy(seg, 0, seg, o, Math.min(bytes, n * dtype.byteSize() - o));
        }
        float[] scales = null;
        if (dtype == DType.F8_E4M3) {
            scales = new float[Weights.scaleRows(rows) * Weights.scaleRows(cols)];
            for (int i = 0; i < scales.length; i++) scales[i] = (float) Math.exp(rnd.nextGaussian()) * 1e-3f;
        }
        return new Weights(seg, dtype, rows, cols, scales);
    }

    public static float[] randomFloats(int n, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /**
     * Median seconds per call of {@code body}: each of {@code samples} samples repeats it for at least
     * {@code minSeconds}; a warm-up of the same length comes first (JIT).
     */
    public static double medianSeconds(Runnable body, double minSeconds, int samples) {
        return timing(body, minSeconds, samples).wallSeconds();
    }

    /**
     * Seconds per call: the median wall-clock time, and the median CPU time of the calling thread. On a shared
     * machine the CPU time is the fairer figure for single-threaded work (time spent descheduled is not
     * counted); it means nothing when other threads do the work.
     */
    public record Timing(double wallSeconds, double cpuSeconds) {
    }

    /**
     * A rate (GB/s or GFLOP/s) per wall second and per CPU second of the calling thread; the second is only
     * meaningful with 1 thread (see {@link Timing}).
     */
    public record Rate(double wall, double cpu) {
        public static Rate of(double amount, Timing t) {
            return new Rate(amount / t.wallSeconds(), amount / t.cpuSeconds());
        }
    }

    public static Timing timing(Runnable body, double minSeconds, int samples) {
        // Warm-up long enough for C2 to compile the Vector API code (interpreted, it is 100x slower).
        sample(body, Math.max(minSeconds, 0.3));
        double[] wall = new double[samples], cpu = new double[samples];
        for (int i = 0; i < samples; i++) {
            double[] s = sample(body, minSeconds);
            wall[i] = s[0];
            cpu[i] = s[1];
        }
        Arrays.sort(wall);
        Arrays.sort(cpu);
        return new Timing(wall[samples / 2], cpu[samples / 2]);
    }

    private static double[] sample(Runnable body, double minSeconds) {
        long budget = (long) (minSeconds * 1e9);
        long start = System.nanoTime(), cpu0 = THREADS.getCurrentThreadCpuTime(), now;
        int calls = 0;
        do {
            body.run();
            calls++;
            now = System.nanoTime();
        } while (now - start < budget);
        long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
        return new double[]{(now - start) / 1e9 / calls, cpu / 1e9 / calls};
    }

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    /** Sustained read bandwidth in GB/s (10^9 bytes) streaming {@code buffer} once per call over the pool. */
    public static Rate readBandwidth(MemorySegment buffer, double minSeconds) {
        long bytes = buffer.byteSize() - buffer.byteSize() % (64L * 1024);
        int chunks = (int) (bytes / (64L * 1024));
        double[] partial = new double[chunks];
        Runnable pass = () -> {
            Parallel.forRange(chunks, Long.MAX_VALUE / chunks, (from, to) -> {
                for (int c = from; c < to; c++) partial[c] = sumChunk(buffer, c * 64L * 1024, 64 * 1024);
            });
            sink = partial[chunks - 1];
        };
        return Rate.of(bytes / 1e9, timing(pass, minSeconds, 5));
    }

    static double sumChunk(MemorySegment m, long off, int len) {
        int l = F.length() * 4;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < len; i += 4 * l) {
            long o = off + i;
            // Reinterpreting random bits as float is fine for a bandwidth probe; the adds only keep loads alive.
            a0 = a0.add(FloatVector.fromMemorySegment(F, m, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, m, o + l, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, m, o + 2L * l, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, m, o + 3L * l, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Peak F32 arithmetic in GFLOP/s (an FMA counts 2): every pool thread runs independent register-only FMA
     * chains, enough of them to cover the FMA latency. No memory traffic: the true prefill ceiling.
     */
    public static Rate fmaPeak(double minSeconds) {
        int threads = Parallel.threads();
        int iters = 1 << 12;
        double[] partial = new double[threads];
        Runnable run = () -> {
            Parallel.forRange(threads, Long.MAX_VALUE / threads, (from, to) -> {
                for (int t = from; t < to; t++) {
                    double s = 0;
                    for (int rep = 0; rep < 16; rep++) s += fmaChains(iters);
                    partial[t] = s;
                }
            });
            sink = partial[0];
        };
        double flops = (double) threads * 16 * iters * 12 * F.length() * 2;
        return Rate.of(flops / 1e9, timing(run, minSeconds, 5));
    }

    private static double fmaChains(int iters) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f), a = FloatVector.broadcast(F, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(F, 1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iters; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
            c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }

    /**
     * GFLOP/s of {@code kernels.matMul} on cache-resident F32 operands ([512, 512] weights, a batch of 128): the
     * best a plain F32 GEMM of these kernels does when memory is not the limit.
     */
    public static Rate gemmF32(Kernels kernels, double minSeconds) {
        int rows = 512, cols = 512, n = 128;
        try (Arena arena = Arena.ofShared()) {
            Weights w = randomWeights(arena, DType.F32, rows, cols, 1);
            float[] x = randomFloats(n * cols, 2);
            float[] out = new float[n * rows];
            Timing t = timing(() -> kernels.matMul(w, x, n, out), minSeconds, 5);
            sink = out[0];
            return Rate.of(2.0 * rows * cols * n / 1e9, t);
        }
    }
}
