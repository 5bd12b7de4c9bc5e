package io.moeprune.bench;

import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.DType;
import io.moeprune.safetensors.SafetensorsWriter;
import io.moeprune.safetensors.TensorSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Copy throughput of {@link SafetensorsWriter} against {@code cp}: builds a synthetic multi-shard checkpoint of
 * random (non-zero) BF16 tensors, then alternately copies every tensor through the writer and copies the same
 * files with {@code cp}, several rounds, and prints MB/s min / median / max of each and the ratio.
 *
 * <p>Usage: {@code bench/run writer [GB] [DIR] [ROUNDS]} (default 3 GB under a fresh /tmp directory, 4 rounds
 * after one uncounted warm-up of each);
 * everything it creates is deleted at the end. Neither side calls fsync (both measure what a user waits for);
 * an untimed sync before each copy starts both from the same clean page cache.
 */
public final class WriterBench {
    static final long TENSOR_BYTES = 64L << 20;     // [4096, 8192] BF16
    static final long SHARD_BYTES = 700_000_000L;   // several shards for the default 3 GB

    public static void main(String[] args) throws Exception {
        double gb = args.length > 0 ? Double.parseDouble(args[0]) : 3.0;
        Path parent = args.length > 1 ? Path.of(args[1]) : Path.of("/tmp");
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        Files.createDirectories(parent);
        Path base = Files.createTempDirectory(parent, "moeprune-writerbench-");
        Thread cleanup = new Thread(() -> deleteTree(base));
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            run(base, gb, rounds);
        } finally {
            deleteTree(base);
            Runtime.getRuntime().removeShutdownHook(cleanup);
        }
    }

    static void run(Path base, double gb, int rounds) throws Exception {
        Path src = base.resolve("src");
        int tensors = (int) Math.max(1, Math.round(gb * 1e9 / TENSOR_BYTES));
        long t0 = System.nanoTime();
        SafetensorsWriter.Result built;
        try (SafetensorsWriter w = new SafetensorsWriter(src, SHARD_BYTES, Map.of("format", "pt"))) {
            for (int i = 0; i < tensors; i++) {
                long seed = i;
                w.add("model.layers." + i + ".mlp.experts.weight", DType.BF16, new long[]{4096, 8192},
                        new TensorSource.Generated(TENSOR_BYTES, out -> writeRandom(out, TENSOR_BYTES, seed)));
            }
            built = w.finish();
        }
        double buildS = (System.nanoTime() - t0) / 1e9;
        long bytes = built.totalSize();
        System.out.printf("WriterBench: %.2f GB synthetic checkpoint, %d tensors of 64 MiB BF16 in %d shards, "
                + "built in %.1f s (%s)%n", bytes / 1e9, tensors, built.shards().size(), buildS, src);

        // One uncounted round of each: JIT warm-up for the writer, and the same start for cp.
        Path warm = base.resolve("out");
        sync();
        System.out.printf("  warm-up writer %6.2f s%n", copyWithWriter(src, warm));
        deleteTree(warm);
        sync();
        System.out.printf("  warm-up cp     %6.2f s%n", copyWithCp(src, warm));
        deleteTree(warm);

        List<Double> writer = new ArrayList<>(), cp = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            // Alternate which goes first so page-cache writeback of the previous copy hurts both alike.
            boolean writerFirst = r % 2 == 0;
            for (int k = 0; k < 2; k++) {
                boolean useWriter = (k == 0) == writerFirst;
                Path out = base.resolve("out");
                sync();
                double s = useWriter ? copyWithWriter(src, out) : copyWithCp(src, out);
                (useWriter ? writer : cp).add(bytes / 1e6 / s);
                System.out.printf("  round %d %-6s %7.2f s %8.0f MB/s%n", r + 1, useWriter ? "writer" : "cp", s, bytes / 1e6 / s);
                deleteTree(out);
            }
        }
        System.out.println();
        System.out.printf("%-8s %10s %10s %10s%n", "copier", "min MB/s", "median", "max MB/s");
        printRow("writer", writer);
        printRow("cp", cp);
        System.out.printf("ratio writer/cp (medians): %.2f  (goal >= 0.80)%n", median(writer) / median(cp));
    }

    static double copyWithWriter(Path src, Path out) {
        long t0 = System.nanoTime();
        try (Checkpoint c = Checkpoint.open(src);
             SafetensorsWriter w = new SafetensorsWriter(out, SHARD_BYTES, Map.of("format", "pt"))) {
            for (String n : c.names()) w.copy(c, n);
            w.finish();
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    static double copyWithCp(Path src, Path out) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder("cp", "-r", src.toString(), out.toString()).inheritIO().start();
        if (p.waitFor() != 0) throw new IOException("cp failed with exit code " + p.exitValue());
        return (System.nanoTime() - t0) / 1e9;
    }

    /**
     * Flushes dirty pages (untimed) before each timed copy, so neither copier pays for the writeback of the
     * previous one: the page cache then absorbs each copy from the same clean state.
     */
    static void sync() throws IOException, InterruptedException {
        new ProcessBuilder("sync").inheritIO().start().waitFor();
    }

    /** Random bytes from a per-tensor seed, 4 MiB at a time. */
    static void writeRandom(java.nio.channels.WritableByteChannel out, long size, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + 1);
        ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (long done = 0; done < size; ) {
            buf.clear();
            LongBuffer longs = buf.asLongBuffer();
            while (longs.hasRemaining()) longs.put(rnd.nextLong());
            buf.limit((int) Math.min(buf.capacity(), size - done));
            while (buf.hasRemaining()) done += out.write(buf);
        }
    }

    static void printRow(String name, List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        System.out.printf("%-8s %10.0f %10.0f %10.0f%n", name, s.getFirst(), median(v), s.getLast());
    }

    static double median(List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            System.err.println("could not delete " + root + ": " + e.getMessage());
        }
    }
}
