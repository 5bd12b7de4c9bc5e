package io.moeprune.bench;

import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.io.ProcessIo;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.LayerPages;
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
 * Layer-major against document-major calibration: wall time and bytes read from storage for 1, 8 and 32
 * demonstrations in one run, on a random checkpoint (generated first if DIR does not exist).
 *
 * <p>Every run starts cold: the checkpoint's pages are given back to the system first ({@link LayerPages#releaseAll},
 * madvise + posix_fadvise DONTNEED, no root needed). To stand for a checkpoint larger than memory on any machine, the
 * layer-major run gives each layer back once all demonstrations have passed it (as it does by itself when the
 * checkpoint exceeds the memory available), and the document-major run gives the whole checkpoint back after each
 * demonstration (what an LRU page cache smaller than the checkpoint ends up doing). Bytes read: read_bytes of
 * /proc/self/io; page faults that had to wait for storage: majflt of /proc/self/stat; peak resident set of each run:
 * VmHWM, reset before it.
 *
 * <p>Usage: bench/run layerMajor DIR [--shape h,layers,heads,kvHeads,headDim,experts,topK,moeInter,vocab]
 * [--demos 1,8,32] [--tokens 256]
 */
public final class LayerMajorBench {
    /** hidden 1024, 8 layers, 64 experts of 256 (top 8), vocab 32768: 1.1 GB in BF16, minutes on 2 cores. */
    static final RandomMoeModel.Shape SMALL = new RandomMoeModel.Shape(1024, 8, 8, 2, 128, 64, 8, 256, 32768);

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: bench/run layerMajor DIR [--shape ...] [--demos 1,8,32] [--tokens 256]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        RandomMoeModel.Shape shape = SMALL;
        int[] counts = {1, 8, 32};
        int tokens = 256;
        for (int i = 1; i + 1 < args.length; i += 2) {
            int[] v = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
            switch (args[i]) {
                case "--shape" -> shape = new RandomMoeModel.Shape(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
                case "--demos" -> counts = v;
                case "--tokens" -> tokens = v[0];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!Files.exists(dir)) {
            long t0 = System.nanoTime();
            RandomMoeModel.write(dir, shape, 42);
            System.out.printf(Locale.ROOT, "generated %s in %.0f s%n", dir, (System.nanoTime() - t0) / 1e9);
        }
        System.setProperty(LayerMajorPass.STREAM_PROPERTY, "true");
        try (Model model = Models.open(dir)) {
            long size = model.checkpointBytes();
            int vocab = model.spec().vocabSize();
            Calibrator calibrator = new Calibrator(model);
            LayerPages pages = model.layerPages();
            // Warm-up (JIT) on a few tokens, both orders, untimed.
            List<int[]> warm = demos(2, 32, vocab, 1);
            calibrator.run(warm, names(warm), "", "", n -> { });
            calibrator.runDocumentMajor(warm, names(warm), "", "", n -> { });
            System.out.printf(Locale.ROOT, "checkpoint %.2f GB, %d layers, %d cores, %d tokens per demonstration%n",
                    size / 1e9, model.layers().size(), Runtime.getRuntime().availableProcessors(), tokens);
            System.out.printf(Locale.ROOT, "%-6s %-15s %9s %9s %12s %10s %12s %9s %6s%n", "demos", "order", "wall s",
                    "tok/s", "read GB", "x ckpt", "majflt", "peak GB", "same");
            for (int count : counts) {
                List<int[]> demos = demos(count, tokens, vocab, count);
                List<String> names = names(demos);
                pages.releaseAll();
                Measure lm = Measure.start();
                ExpertStats a = calibrator.run(demos, names, "", "", n -> { });
                lm = lm.stop();
                pages.releaseAll();
                Measure dm = Measure.start();
                ExpertStats b = calibrator.runDocumentMajor(demos, names, "", "", n -> pages.releaseAll());
                dm = dm.stop();
                boolean same = Arrays.stream(Statistic.values())
                        .allMatch(s -> Arrays.deepEquals(a.values().get(s), b.values().get(s)));
                long tok = (long) count * tokens;
                lm.print(count, "layer-major", tok, size, same);
                dm.print(count, "document-major", tok, size, same);
            }
        }
    }

    /** Wall time, bytes read and major faults of one run. */
    private record Measure(long nanos, long readBytes, long majorFaults, long peakRss) {
        static Measure start() {
            resetPeak();
            return new Measure(System.nanoTime(), ProcessIo.readBytes(), faults(), 0);
        }

        Measure stop() {
            return new Measure(System.nanoTime() - nanos, ProcessIo.readBytes() - readBytes, faults() - majorFaults,
                    peakResident());
        }

        void print(int demos, String order, long tokens, long size, boolean same) {
            System.out.printf(Locale.ROOT, "%-6d %-15s %9.1f %9.0f %12.2f %10.2f %12d %9.2f %6s%n", demos, order,
                    nanos / 1e9, tokens / (nanos / 1e9), readBytes / 1e9, (double) readBytes / size, majorFaults,
                    peakRss / 1e9, same ? "yes" : "NO");
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
        static long peakResident() {
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
