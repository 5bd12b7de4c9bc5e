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
 * reads its weights from such a mapping. (Session 4 also tried touching pages ahead here; no effect, BENCHMARKS.md.)
 *
 * <pre>bench/run mappedRead FILE [--threads N]</pre>
 */
public final class MappedReadBench {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: bench/run mappedRead FILE [--threads N]");
            System.exit(2);
        }
        if (args.length >= 3 && args[1].equals("--threads")) Parallel.setThreads(Integer.parseInt(args[2]));
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(Path.of(args[0]))) {
            long size = Math.min(ch.size(), 4L << 30) / CHUNK * CHUNK;
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            MemorySegment anon = Roofline.randomBytes(arena, 1L << 30, 1);
            read(map);  // page cache and page tables warm
            System.out.printf("threads %d, file %s (%.2f GB mapped)%n", Parallel.threads(), args[0], size / 1e9);
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
