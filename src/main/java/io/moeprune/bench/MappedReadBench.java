package io.moeprune.bench;

import io.moeprune.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Why decode reads the mapped checkpoint slower than plain memory: the streaming-read bandwidth of 1 GiB of
 * anonymous memory, of a mapped file (page-cache pages), and of the same file when each 4 KiB page read first
 * touches the page some distance ahead (so its page walk and first line start early: the hardware prefetchers
 * stop at page edges).
 *
 * <pre>bench/run mappedRead FILE [--threads N]</pre>
 */
public final class MappedReadBench {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int CHUNK = 64 * 1024;
    private static volatile double sink;

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
            read(map, 0);  // page cache warm
            System.out.printf("threads %d, file %s (%.2f GB mapped)%n", Parallel.threads(), args[0], size / 1e9);
            System.out.printf("%-28s %8s%n", "memory", "GB/s");
            for (int round = 0; round < 2; round++) {
                System.out.printf("%-28s %8.1f%n", "anonymous 1 GiB", rate(anon, 0));
                for (int ahead : new int[] {0, 1, 2, 4, 8}) {
                    String what = ahead == 0 ? "mapped" : "mapped, touch " + ahead + " page(s) ahead";
                    System.out.printf("%-28s %8.1f%n", what, rate(map, ahead));
                }
            }
        }
    }

    private static double rate(MemorySegment m, int ahead) {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long t0 = System.nanoTime();
            read(m, ahead);
            best = Math.min(best, System.nanoTime() - t0);
        }
        return m.byteSize() / (best / 1e9) / 1e9;
    }

    private static void read(MemorySegment m, int ahead) {
        int chunks = (int) (m.byteSize() / CHUNK);
        double[] partial = new double[chunks];
        Parallel.forRange(chunks, Long.MAX_VALUE / chunks, (from, to) -> {
            for (int c = from; c < to; c++) partial[c] = sumChunk(m, (long) c * CHUNK, ahead);
        });
        sink = partial[chunks - 1];
    }

    private static double sumChunk(MemorySegment m, long off, int ahead) {
        int l = F.length() * 4;
        long size = m.byteSize();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int touched = 0;
        for (long page = off; page < off + CHUNK; page += 4096) {
            if (ahead > 0 && page + 4096L * ahead < size) touched += m.get(ValueLayout.JAVA_BYTE, page + 4096L * ahead);
            for (long o = page; o < page + 4096; o += 4L * l) {
                a0 = a0.add(FloatVector.fromMemorySegment(F, m, o, ByteOrder.LITTLE_ENDIAN));
                a1 = a1.add(FloatVector.fromMemorySegment(F, m, o + l, ByteOrder.LITTLE_ENDIAN));
                a2 = a2.add(FloatVector.fromMemorySegment(F, m, o + 2L * l, ByteOrder.LITTLE_ENDIAN));
                a3 = a3.add(FloatVector.fromMemorySegment(F, m, o + 3L * l, ByteOrder.LITTLE_ENDIAN));
            }
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD) + touched;
    }
}
