package io.moeprune.bench;

import io.moeprune.kernels.Parallel;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Whether a mapped file reads slower than plain memory: the streaming-read bandwidth of 1 GiB of anonymous memory
 * and of a mapped file (page-cache pages), the mapping warmed by one pass first, best of 5 passes, two rounds. Decode
 * reads its weights from such a mapping. (On 2026-11-23 we also tried touching pages ahead here; no effect, BENCHMARKS.md.)
 *
 * <p>Options for the open question of BENCHMARKS.md (2026-11-24): {@code --advise A[,B]} applies madvise advice
 * (hugepage, willneed, sequential, populate_read, collapse, …) to the mapping before the warm pass, {@code --aligned}
 * maps the file at a 2 MiB-aligned address through libc instead of {@code FileChannel.map}. Each run prints the
 * smaps line of both mappings (Rss and how much is mapped with huge pages).
 *
 * <pre>bench/run mappedRead FILE [--threads N] [--advise A[,B]] [--aligned]</pre>
 */
public final class MappedReadBench {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: bench/run mappedRead FILE [--threads N] [--advise A[,B]] [--aligned]");
            System.exit(2);
        }
        String advise = null;
        boolean aligned = false;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[++i]));
                case "--advise" -> advise = args[++i];
                case "--aligned" -> aligned = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(Path.of(args[0]))) {
            long size = Math.min(ch.size(), 4L << 30) / CHUNK * CHUNK;
            MemorySegment map = aligned ? MappingExperiments.mapAligned(Path.of(args[0]), size, arena)
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            MemorySegment anon = Roofline.randomBytes(arena, 1L << 30, 1);
            if (advise != null) {
                for (String a : advise.split(",")) {
                    System.out.printf("madvise %s: %d%n", a, MappingExperiments.madvise(map, a));
                }
            }
            read(map);  // page cache and page tables warm
            System.out.printf("threads %d, file %s (%.2f GB mapped%s at %x)%n", Parallel.threads(), args[0],
                    size / 1e9, aligned ? ", 2 MiB-aligned" : "", map.address());
            System.out.println("smaps mapped: " + MappingExperiments.smaps(map));
            System.out.println("smaps anon:   " + MappingExperiments.smaps(anon));
            System.out.printf("%-28s %8s%n", "memory", "GB/s");
            for (int round = 0; round < 2; round++) {
                System.out.printf("%-28s %8.1f%n", "anonymous 1 GiB", rate(anon));
                System.out.printf("%-28s %8.1f%n", "mapped", rate(map));
            }
        }
    }

    private static double rate(MemorySegment m) {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            read(m);
            best = Math.min(best, System.nanoTime() - t0);
        }
        return m.byteSize() / (best / 1e9) / 1e9;
    }

    private static void read(MemorySegment m) {
        int chunks = (int) (m.byteSize() / CHUNK);
        double[] partial = new double[chunks];
        Parallel.forRange(chunks, Long.MAX_VALUE / chunks, (from, to) -> {
            for (int c = from; c < to; c++) partial[c] = Roofline.sumChunk(m, (long) c * CHUNK, CHUNK);
        });
        Roofline.sink = partial[chunks - 1];
    }
}
