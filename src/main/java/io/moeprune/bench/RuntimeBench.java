package io.moeprune.bench;

import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.Weights;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PhaseTimes;
import io.moeprune.safetensors.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * Prefill and decode speed of the runtime on a model directory, next to the rooflines measured in the same run:
 * decode ≤ memory bandwidth ({@link Roofline#readBandwidth}) / bytes of active weights per token; prefill ≤ F32
 * GEMM rate of Kernels.matMul / (2 · active parameters per token).
 *
 * <pre>
 * bench/run runtime MODEL_DIR [--threads N] [--prompt 256] [--decode 32] [--runs 3]
 *                   [--prefill-first N] [--pause-ms N] [--warm-prompt N]   # experiments, see the options below
 * bench/run runtime --generate DIR        # writes the 1.9 B random-weight Qwen3-MoE of {@link RandomMoeModel}
 * bench/run runtime --generate DIR --shape 256,8,4,2,64,32,4,128,8192   # another shape (here moe-tiny-7d's)
 * bench/run runtime --generate DIR --embedding-scale 256   # embedding scaled up: tokens route to all experts
 * </pre>
 */
public final class RuntimeBench {
    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("--generate")) {
            long t0 = System.nanoTime();
            RandomMoeModel.Shape shape = RandomMoeModel.Shape.DEFAULT;
            int embeddingScale = 1;
            for (int i = 2; i + 1 < args.length; i += 2) {
                if (args[i].equals("--shape")) {
                    // hidden,layers,heads,kvHeads,headDim,experts,topK,moeIntermediate,vocab (e.g. moe-tiny-7d's shape)
                    int[] v = java.util.Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                    shape = new RandomMoeModel.Shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
                } else if (args[i].equals("--embedding-scale")) {
                    embeddingScale = Integer.parseInt(args[i + 1]);  // a power of two: routing spread over all experts
                }
            }
            long params = RandomMoeModel.write(Path.of(args[1]), shape, 42, embeddingScale);
            System.out.printf("wrote %s: %.2f B parameters (BF16) in %.0f s%n", args[1], params / 1e9,
                    (System.nanoTime() - t0) / 1e9);
            return;
        }
        if (args.length < 1) {
            System.err.println("usage: bench/run runtime MODEL_DIR [--threads N] [--prompt 256] [--decode 32] [--runs 3]"
                    + " [--prefill-first N] [--pause-ms N] [--warm-prompt N] | --generate DIR");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int promptLen = 256, decodeLen = 32, runs = 3, prefillFirst = 0, pauseMillis = 0, warmPrompt = -1;
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[i + 1]));
                case "--prompt" -> promptLen = Integer.parseInt(args[i + 1]);
                case "--decode" -> decodeLen = Integer.parseInt(args[i + 1]);
                case "--runs" -> runs = Integer.parseInt(args[i + 1]);
                // What slows a decode after a long prompt (2026-11-24): a throwaway prefill of N tokens just before each
                // timed prompt (a prefill's after-effects without its context), a pause between the timed prefill and
                // the decode (a transient after the prefill's burst), warm-up prompts of another length (JIT profiles).
                case "--prefill-first" -> prefillFirst = Integer.parseInt(args[i + 1]);
                case "--pause-ms" -> pauseMillis = Integer.parseInt(args[i + 1]);
                case "--warm-prompt" -> warmPrompt = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        int threads = Parallel.threads();
        try (Model model = Models.open(dir)) {
            ModelSpec spec = model.spec();
            Random random = new Random(7);
            int[] prompt = random.ints(promptLen, 0, spec.vocabSize()).toArray();
            long activeBytes = model.activeWeightBytesPerToken();
            long activeParams = activeBytes / 2;   // BF16/F16 checkpoints; F32 ones are halved below
            if (model.lmHead().weights().dtype() == DType.F32) activeParams = activeBytes / 4;

            // Warm up (JIT, page cache): whole prefills and decode steps of the measured sizes for at least two seconds,
            // so C2 has compiled every kernel shape before anything is timed (on a small model three timed runs take
            // a fraction of a second, less than the compiler needs).
            long warmEnd = System.nanoTime() + 2_000_000_000L;
            int[] warmTokens = warmPrompt < 0 ? prompt : random.ints(warmPrompt, 0, spec.vocabSize()).toArray();
            for (int w = 0; w < 2 || System.nanoTime() < warmEnd; w++) {
                InferenceState state = model.newState(warmTokens.length + 8);
                int next = argmax(model.forward(warmTokens, state, false));
                for (int s = 0; s < Math.min(8, decodeLen); s++) next = argmax(model.decode(next, state));
            }
            // Then a decode of its own for another second (at most 512 steps): a prefill of 256 tokens at 16 threads
            // takes ~0.3 s, so the loop above ran only ~50 decode steps, and what only a decode step runs (attention of
            // one row, routing) may not be compiled yet when the timed steps run. (2026-11-24, one call: 76-82 tokens/s
            // here against 90 in bench/run decodeAb, which times its steps after hundreds of others.)
            if (decodeLen > 0) {
                InferenceState state = model.newState(warmTokens.length + 512);
                int next = argmax(model.forward(warmTokens, state, false));
                long decodeWarmEnd = System.nanoTime() + 1_000_000_000L;
                for (int s = 0; s < 512 && System.nanoTime() < decodeWarmEnd; s++) next = argmax(model.decode(next, state));
            }
            double[] prefill = new double[runs], decode = new double[runs], adjacent = new double[runs];
            long[] prefillPhases = new long[PhaseTimes.Phase.values().length], decodePhases = prefillPhases.clone();
            long gcCount = 0, gcMillis = 0;
            // The GPU machine's bandwidth swings by up to 2x over seconds (a shared host): each run's decode is also
            // set against a short probe read right before it, in the same process.
            Arena probeArena = Arena.ofShared();
            MemorySegment probe = Roofline.randomBytes(probeArena, 1L << 30, 1);
            long[] cpu0 = cpuTicks();
            for (int r = 0; r < runs; r++) {
                adjacent[r] = Roofline.readBandwidth(probe, 0.25).wall() * 1e9;
                long gc0 = gcCount(), gcMs0 = gcMillis();
                InferenceState state = model.newState(promptLen + decodeLen);
                if (prefillFirst > 0) model.forward(random.ints(prefillFirst, 0, spec.vocabSize()).toArray(),
                        model.newState(prefillFirst), false);
                PhaseTimes.take();
                long t0 = System.nanoTime();
                float[] logits = model.forward(prompt, state, false);
                long t1 = System.nanoTime();
                prefill[r] = promptLen / ((t1 - t0) / 1e9);
                add(prefillPhases, PhaseTimes.take());
                if (pauseMillis > 0) {
                    Thread.sleep(pauseMillis);
                    PhaseTimes.take();
                    t1 = System.nanoTime();
                }
                int next = argmax(logits);
                for (int s = 0; s < decodeLen; s++) next = argmax(model.decode(next, state));
                long t2 = System.nanoTime();
                add(decodePhases, PhaseTimes.take());
                decode[r] = decodeLen / ((t2 - t1) / 1e9);
                gcCount += gcCount() - gc0;
                gcMillis += gcMillis() - gcMs0;
            }
            probeArena.close();
            long[] cpu1 = cpuTicks();
            double[] ofAdjacent = new double[runs];
            for (int r = 0; r < runs; r++) ofAdjacent[r] = decode[r] * activeBytes / adjacent[r];
            double bandwidth = measureBandwidth(threads);
            double mappedBandwidth = measureMappedBandwidth(dir);
            double gemm = measureGemmFlops();
            double decodeRoof = bandwidth / activeBytes;
            double prefillRoof = gemm / (2.0 * activeParams);
            System.out.printf("model %s: %s, %d layers, %d experts top-%d, kernels %s, threads %d%n", dir.getFileName(),
                    spec.family().modelType(), spec.numLayers(), spec.moe().numExperts(), spec.moe().topK(),
                    Kernels.get().description(), threads);
            System.out.printf("active weights per token: %.1f MB (%.0f M parameters)%n", activeBytes / 1e6, activeParams / 1e6);
            System.out.printf("measured: memory bandwidth %.1f GB/s, F32 GEMM %.1f GFLOP/s%n", bandwidth / 1e9, gemm / 1e9);
            System.out.printf("measured: read bandwidth over the mapped checkpoint %.1f GB/s (decode bound %.1f tokens/s)%n",
                    mappedBandwidth / 1e9, mappedBandwidth / activeBytes);
            if (cpu0 != null && cpu1 != null && cpu1[0] > cpu0[0]) {
                // Time the hypervisor ran other guests on this machine's CPUs: a decode step joins its threads ~100
                // times, so one preempted thread holds up all of them.
                System.out.printf("measured: CPU steal during the timed runs %.1f%% of CPU time%n",
                        100.0 * (cpu1[1] - cpu0[1]) / (cpu1[0] - cpu0[0]));
            }
            System.out.println();
            System.out.printf("%-24s %12s %12s %10s%n", "phase", "tokens/s", "roofline", "of roof");
            System.out.printf("%-24s %12.1f %12.1f %9.0f%%%n", "prefill (" + promptLen + " tokens)", median(prefill),
                    prefillRoof, 100 * median(prefill) / prefillRoof);
            System.out.printf("%-24s %12.1f %12.1f %9.0f%%%n", "decode (" + decodeLen + " steps)", median(decode),
                    decodeRoof, 100 * median(decode) / decodeRoof);
            System.out.printf("decode against the probe read just before each run (%s GB/s): %s of roof, median %.0f%%%n",
                    list(adjacent, 1e-9, "%.0f"), list(ofAdjacent, 100, "%.0f%%"), 100 * median(ofAdjacent));
            System.out.printf("garbage collections during the timed runs: %d, %d ms%n", gcCount, gcMillis);
            if (PhaseTimes.ON) {
                System.out.printf("%nphases of the %d prefills (-Dmoeprune.phases, calling thread's wall time):%n%s", runs,
                        PhaseTimes.table(prefillPhases));
                System.out.printf("%nphases of the %d × %d decode steps:%n%s", runs, decodeLen,
                        PhaseTimes.table(decodePhases));
            }
        }
    }

    private static void add(long[] sum, long[] more) {
        for (int i = 0; i < sum.length; i++) sum[i] += more[i];
    }

    private static long gcCount() {
        long n = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) n += Math.max(0, gc.getCollectionCount());
        return n;
    }

    private static long gcMillis() {
        long ms = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) ms += Math.max(0, gc.getCollectionTime());
        return ms;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /** {total, steal} CPU ticks of all CPUs from /proc/stat, or null where there is none (not Linux). */
    private static long[] cpuTicks() {
        try {
            String[] f = java.nio.file.Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < f.length && i <= 8; i++) total += Long.parseLong(f[i]);
            return new long[]{total, f.length > 8 ? Long.parseLong(f[8]) : 0};
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    private static String list(double[] v, double scale, String format) {
        StringBuilder b = new StringBuilder();
        for (double x : v) b.append(b.isEmpty() ? "" : " ").append(String.format(java.util.Locale.ROOT, format, x * scale));
        return b.toString();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** Bytes/s of streaming reads over 1 GiB of native memory with the kernels' threads (h5's Roofline probe). */
    static double measureBandwidth(int threads) {
        try (Arena arena = Arena.ofShared()) {
            return Roofline.readBandwidth(Roofline.randomBytes(arena, 1L << 30, 1), 1.0).wall() * 1e9;
        }
    }

    /**
     * Bytes/s of the same streaming reads over the model's largest safetensors file as mapped (page-cache pages, 4 KiB
     * unless the kernel gives more): what a runtime that maps its weights can read at best.
     */
    static double measureMappedBandwidth(Path dir) throws java.io.IOException {
        Path largest;
        try (var files = java.nio.file.Files.list(dir)) {
            largest = files.filter(p -> p.toString().endsWith(".safetensors"))
                    .max(java.util.Comparator.comparingLong(p -> p.toFile().length())).orElseThrow();
        }
        try (Arena arena = Arena.ofShared();
             java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(largest, java.nio.file.StandardOpenOption.READ)) {
            MemorySegment map = ch.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return Roofline.readBandwidth(map, 1.0).wall() * 1e9;
        }
    }

    /** FLOP/s of Kernels.matMul on an F32 [2048, 2048] matrix times 128 rows; best of 3. */
    static double measureGemmFlops() {
        int rows = 2048, cols = 2048, n = 128;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate((long) rows * cols * 4, 64);
            for (long i = 0; i < (long) rows * cols; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 7) * 0.01f);
            Weights w = new Weights(seg, DType.F32, rows, cols);
            float[] x = new float[n * cols];
            Arrays.fill(x, 0.5f);
            float[] out = new float[n * rows];
            double best = 0;
            for (int rep = 0; rep < 4; rep++) {
                long t0 = System.nanoTime();
                Kernels.get().matMul(w, x, n, out);
                double s = (System.nanoTime() - t0) / 1e9;
                if (rep > 0) best = Math.max(best, 2.0 * rows * cols * n / s);
            }
            return best;
        }
    }
}
