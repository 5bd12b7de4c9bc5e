package io.moeprune.bench;

import io.moeprune.gpu.runtime.StagingRate;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The GPU pass's host staging speed (the mapped checkpoint copied into staging memory, layer by layer, as
 * WeightStream stages them; no GPU needed): one thread against {@code --threads} (default: the pool's default,
 * min(8, cores/2)), alternated in one process after a warm-up pass (the page cache warm, as for a second run), the
 * median of {@code --runs} each, and their ratio; then a streamed pass's host embeddings of {@code --batch} x
 * {@code --seq} random tokens the same way (1 thread against the pool), and the once-a-session check of the table a
 * resident pass looks its embeddings up in.
 *
 * <p>Usage: bench/run gpuStaging MODEL_DIR [--threads N] [--runs 5] [--batch 8] [--seq 2048]
 */
public final class GpuStagingBench {
    private GpuStagingBench() {
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: bench/run gpuStaging MODEL_DIR [--threads N] [--runs 5] [--batch 8] [--seq 2048]");
            System.exit(2);
        }
        int threads = StagingRate.defaultThreads(), runs = 5, batch = 8, seq = 2048;
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--runs" -> runs = Integer.parseInt(args[i + 1]);
                case "--batch" -> batch = Integer.parseInt(args[i + 1]);
                case "--seq" -> seq = Integer.parseInt(args[i + 1]);
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
            // A streamed pass's host embeddings of batch x seq random tokens, and the resident table's one check.
            List<int[]> seqs = new ArrayList<>();
            Random random = new Random(7);
            for (int b = 0; b < batch; b++) seqs.add(random.ints(seq, 0, model.spec().vocabSize()).toArray());
            StagingRate.embedAll(model, seqs, threads);   // warm-up
            for (int r = 0; r < runs; r++) {
                one[r] = StagingRate.embedAll(model, seqs, 1);
                many[r] = StagingRate.embedAll(model, seqs, threads);
            }
            Arrays.sort(one);
            Arrays.sort(many);
            System.out.printf(Locale.ROOT, "host embeddings %dx%d: 1 thread %.1f ms; %d threads %.1f ms; ratio %.2fx%n",
                    batch, seq, one[runs / 2] * 1e3, threads, many[runs / 2] * 1e3, one[runs / 2] / many[runs / 2]);
            long t0 = System.nanoTime();
            int bad = model.nonFiniteEmbeddingRows().size();
            System.out.printf(Locale.ROOT, "embedding table checked once (resident): %.1f ms, %d non-finite rows%n",
                    (System.nanoTime() - t0) / 1e6, bad);
        }
    }
}
