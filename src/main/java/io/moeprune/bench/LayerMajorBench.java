package io.moeprune.bench;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.io.ProcessIo;
import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.LayerPages;
import io.moeprune.runtime.MemoryBudget;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Layer-major against document-major calibration: wall time, bytes read from storage and peak resident set for 1, 8
 * and 32 demonstrations in one run, on a random checkpoint (generated first if DIR does not exist).
 *
 * <p>Every run starts cold ({@link ColdCache}: as root the page cache is dropped, otherwise the checkpoint's pages are
 * given back). To stand for a checkpoint larger than memory on any machine, the layer-major run gives each layer back
 * once all demonstrations have passed it (as it does by itself when the checkpoint exceeds the memory budget), and the
 * document-major run gives the whole checkpoint back after each demonstration (what an LRU page cache smaller than
 * the checkpoint ends up doing). Document-major runs only for the counts of {@code --document-major} (default 1,8):
 * it reads the checkpoint once per demonstration, 32 times for 32. Bytes read: read_bytes of /proc/self/io; page
 * faults that had to wait for storage: majflt of /proc/self/stat; peak resident set of each run: VmHWM, reset before
 * it, against the memory budget ({@code --memory-budget}, default the memory available; the heap is the JVM's,
 * e.g. JAVA_OPTS=-Xmx8g). "same", on a document-major line: its statistics are identical to those of the
 * layer-major line above it (every statistic, every float).
 *
 * <p>Usage: bench/run layerMajor DIR [--shape h,layers,heads,kvHeads,headDim,experts,topK,moeInter,vocab]
 * [--demos 1,8,32] [--document-major 1,8] [--tokens 256] [--memory-budget SIZE]
 */
public final class LayerMajorBench {
    /** hidden 1024, 8 layers, 64 experts of 256 (top 8), vocab 32768: 1.1 GB in BF16, minutes on 2 cores. */
    static final RandomMoeModel.Shape SMALL = new RandomMoeModel.Shape(1024, 8, 8, 2, 128, 64, 8, 256, 32768);

    /**
     * The embedding's scale in a generated checkpoint: at 1 all tokens of the random model go to the same quarter of
     * the experts (document-major then reads a quarter of each layer's experts); at 256 every expert is routed to.
     */
    static final int EMBEDDING_SCALE = 256;

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length % 2 == 0) {
            System.err.println("usage: bench/run layerMajor DIR [--shape ...] [--demos 1,8,32] [--document-major 1,8]"
                    + " [--tokens 256] [--memory-budget SIZE]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        RandomMoeModel.Shape shape = SMALL;
        int[] counts = {1, 8, 32};
        int[] documentMajor = {1, 8};
        int tokens = 256;
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (args[i].equals("--memory-budget")) {
                MemoryBudget.set(ByteSize.parse(args[i + 1]));
                continue;
            }
            int[] v = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
            switch (args[i]) {
                case "--shape" -> shape = new RandomMoeModel.Shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
                case "--demos" -> counts = v;
                case "--document-major" -> documentMajor = v;
                case "--tokens" -> tokens = v[0];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!Files.exists(dir)) {
            long t0 = System.nanoTime();
            RandomMoeModel.write(dir, shape, 42, EMBEDDING_SCALE);
            System.out.printf(Locale.ROOT, "generated %s in %.0f s%n", dir, (System.nanoTime() - t0) / 1e9);
        }
        System.setProperty(LayerMajorPass.STREAM_PROPERTY, "true");
        long budget = MemoryBudget.bytes();
        try (Model model = Models.open(dir)) {
            long size = model.checkpointBytes();
            int vocab = model.spec().vocabSize();
            Calibrator calibrator = new Calibrator(model);
            LayerPages pages = model.layerPages();
            ColdCache cold = new ColdCache(pages);
            // Warm-up (JIT) on a few tokens, untimed; layer-major only: both orders run the same layer kernels, and a
            // document-major warm-up would read the whole checkpoint once per demonstration.
            List<int[]> warm = demos(2, 32, vocab, 1);
            calibrator.run(warm, names(warm), "", "", n -> { });
            System.out.printf(Locale.ROOT, "checkpoint %.2f GB, %d layers, %d cores, memory budget %.1f GB,"
                            + " max heap %.1f GB, %d tokens per demonstration%n%s%n",
                    size / 1e9, model.layers().size(), Runtime.getRuntime().availableProcessors(),
                    budget / 1e9, Runtime.getRuntime().maxMemory() / 1e9, tokens,
                    cold.how());
            System.out.printf(Locale.ROOT, "%-6s %-15s %9s %9s %10s %7s %10s %8s %7s %5s %8s%n", "demos", "order",
                    "wall s", "tok/s", "read GB", "x ckpt", "majflt", "peak GB", "<=budg", "same", "experts");
            for (int count : counts) {
                List<int[]> demos = demos(count, tokens, vocab, count);
                List<String> names = names(demos);
                cold.drop();
                Measure lm = Measure.start();
                ExpertStats a = calibrator.run(demos, names, "", "", n -> { });
                lm = lm.stop();
                long tok = (long) count * tokens;
                lm.print(count, "layer-major", tok, size, budget, "-", a);   // now: the run after it may take long
                if (Arrays.stream(documentMajor).noneMatch(c -> c == count)) {
                    System.out.printf(Locale.ROOT, "%-6d %-15s skipped: would read about %.0f GB (%d x the checkpoint)%n",
                            count, "document-major", count * size / 1e9, count);
                    continue;
                }
                cold.drop();
                Measure dm = Measure.start();
                ExpertStats b = calibrator.runDocumentMajor(demos, names, "", "", n -> pages.releaseAll());
                dm = dm.stop();
                String same = Arrays.stream(Statistic.values())
                        .allMatch(s -> Arrays.deepEquals(a.values().get(s), b.values().get(s))) ? "yes" : "NO";
                dm.print(count, "document-major", tok, size, budget, same, b);
            }
        }
    }

    /** Share of (layer, expert) pairs that some token was routed to: all of them read, as in a real calibration. */
    static String expertsRouted(ExpertStats stats) {
        double[][] routed = stats.aggregate(Statistic.TOKENS_ROUTED);
        long hit = 0, all = 0;
        for (double[] layer : routed) {
            for (double n : layer) {
                all++;
                if (n > 0) hit++;
            }
        }
        return String.format(Locale.ROOT, "%.1f%%", 100.0 * hit / Math.max(1, all));
    }

    /** Wall time, bytes read and major faults of one run. */
    private record Measure(long nanos, long readBytes, long majorFaults, long peakRss) {
        static Measure start() {
            resetPeak();
            return new Measure(System.nanoTime(), ProcessIo.readBytes(), faults(), 0);
        }

        Measure stop() {
            return new Measure(System.nanoTime() - nanos, ProcessIo.readBytes() - readBytes, faults() - majorFaults,
                    peakResidentOfProcess());
        }

        void print(int demos, String order, long tokens, long size, long budget, String same, ExpertStats stats) {
            System.out.printf(Locale.ROOT, "%-6d %-15s %9.1f %9.1f %10.2f %7.2f %10d %8.2f %7s %5s %8s%n", demos, order,
                    nanos / 1e9, tokens / (nanos / 1e9), readBytes / 1e9, (double) readBytes / size, majorFaults,
                    peakRss / 1e9, peakRss <= budget ? "yes" : "NO", same, expertsRouted(stats));
        }

        /** Starts a new peak of the resident set (5 to /proc/self/clear_refs resets VmHWM). */
        static void resetPeak() {
            try {
                Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            } catch (java.io.IOException | RuntimeException e) {
                // the peak then covers the whole process
            }
        }

        /** VmHWM of /proc/self/status in bytes, or -1. */
        static long peakResidentOfProcess() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            } catch (java.io.IOException | RuntimeException e) {
                return -1;
            }
            return -1;
        }

        /** majflt, the 12th field of /proc/self/stat (after the parenthesised command name). */
        static long faults() {
            try {
                String stat = Files.readString(Path.of("/proc/self/stat"));
                return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[9]);
            } catch (java.io.IOException | RuntimeException e) {
                return -1;
            }
        }
    }

    /** VmHWM of /proc/self/status in bytes (the peak resident set since it was last reset), or -1. */
    static long peakResident() {
        return Measure.peakResidentOfProcess();
    }

    private static List<int[]> demos(int count, int tokens, int vocab, long seed) {
        Random r = new Random(seed);
        List<int[]> demos = new ArrayList<>();
        for (int i = 0; i < count; i++) demos.add(r.ints(tokens, 0, vocab).toArray());
        return demos;
    }

    private static List<String> names(List<int[]> demos) {
        return demos.stream().map(Arrays::toString).toList();
    }
}
