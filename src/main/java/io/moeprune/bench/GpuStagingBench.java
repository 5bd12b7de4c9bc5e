package io.moeprune.bench;

import io.moeprune.gpu.runtime.StagingRate;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The GPU pass's host staging speed (the mapped checkpoint copied into staging memory, layer by layer, as
 * WeightStream stages them; no GPU needed): one thread against {@code --threads} (default: the pool's default,
 * min(8, cores/2)), alternated in one process after a warm-up pass (the page cache warm, as for a second run), the
 * median of {@code --runs} each, and their ratio.
 *
 * <p>Usage: bench/run gpuStaging MODEL_DIR [--threads N] [--runs 5]
 */
public final class GpuStagingBench {
    private GpuStagingBench() {
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: bench/run gpuStaging MODEL_DIR [--threads N] [--runs 5]");
            System.exit(2);
        }
        int threads = StagingRate.defaultThreads(), runs = 5;
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--runs" -> runs = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (Model model = Models.open(Path.of(args[0]))) {
            StagingRate rate = new StagingRate(model);
            StagingRate.Pass warm = rate.stageAll(threads);
            System.out.printf(Locale.ROOT, "staging %s: %d layers, %.2f GB staged a pass, %d cores, %s%n", args[0],
                    model.layers().size(), warm.bytes() / 1e9, Runtime.getRuntime().availableProcessors(),
                    java.time.Instant.now());
            double[] one = new double[runs], many = new double[runs];
            for (int r = 0; r < runs; r++) {
                one[r] = rate.stageAll(1).gbPerSecond();
                many[r] = rate.stageAll(threads).gbPerSecond();
            }
            Arrays.sort(one);
            Arrays.sort(many);
            System.out.printf(Locale.ROOT, "staging 1 thread: %.2f GB/s; %d threads: %.2f GB/s; ratio %.2fx%n",
                    one[runs / 2], threads, many[runs / 2], many[runs / 2] / one[runs / 2]);
        }
    }
}
