package io.moeprune.bench;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.prune.PruneResult;
import io.moeprune.prune.Pruner;
import io.moeprune.select.ExpertMask;
import io.moeprune.select.MaskFiles;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Prune throughput and memory: prunes a small and a multi-GB random Qwen3-MoE ({@link RandomMoeModel}) to half
 * their experts, and in the same run times {@code cp -r} of the pruned output (exactly the kept bytes) as the
 * bound a byte copy can reach on this disk (two alternating rounds, best of each, page cache flushed with
 * {@code sync} before each, the input cached for both). Peak heap is measured two ways: the heap pools' peak usage
 * (MemoryPoolMXBean, reset after a GC before each prune) and the largest used heap sampled every 5 ms.
 *
 * <pre>bench/run prune [--dir DIR] [--keep] [--small-only]</pre>
 * DIR (default /tmp/moeprune-prunebench) holds the generated models; they are reused when present and deleted at
 * the end unless --keep.
 */
public final class PruneBench {
    private static final RandomMoeModel.Shape SMALL = new RandomMoeModel.Shape(256, 4, 4, 2, 64, 16, 4, 128, 4096);

    public static void main(String[] args) throws Exception {
        Path dir = Path.of("/tmp/moeprune-prunebench");
        boolean keep = false, smallOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--keep" -> keep = true;
                case "--small-only" -> smallOnly = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"model", "input", "kept bytes", "prune s", "prune MB/s", "cp s", "cp MB/s",
                "prune/cp", "prune cpu s", "cp cpu s", "heap peak (pools)", "heap peak (sampled)"});
        rows.add(run(dir.resolve("small"), SMALL));
        if (!smallOnly) rows.add(run(dir.resolve("large"), RandomMoeModel.Shape.DEFAULT));
        System.out.printf("max heap %d MB, %d processors%n", Runtime.getRuntime().maxMemory() >> 20,
                Runtime.getRuntime().availableProcessors());
        for (String[] r : rows) System.out.printf("%-6s %10s %11s %8s %10s %7s %8s %9s %11s %9s %18s %20s%n", (Object[]) r);
        if (!keep) delete(dir);
    }

    private static String[] run(Path base, RandomMoeModel.Shape shape) throws Exception {
        Path model = base.resolve("model");
        if (!Files.isRegularFile(model.resolve("config.json"))) {
            System.out.println("generating " + model + " ...");
            RandomMoeModel.write(model, shape, 42);
        }
        ModelSpec spec = ConfigReader.read(model);
        Path mask = base.resolve("mask.json");
        MaskFiles.write(halfMask(spec), mask);
        long input = sizeOf(model, ".safetensors");
        // Warm-up on the same model (JIT, and the input in the page cache for both contenders).
        Path out = base.resolve("pruned");
        Pruner.prune(model, mask, out, Pruner.Options.defaults().withForce(true));

        // Two alternating rounds, best of each; before every timed copy the previous output is deleted and the
        // dirty pages are flushed (sync), so neither contender pays for the other's writeback.
        double pruneS = Double.MAX_VALUE, cpS = Double.MAX_VALUE, pruneCpu = Double.MAX_VALUE, cpCpu = Double.MAX_VALUE;
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long poolPeak = 0, sampledPeak = 0;
        PruneResult r = null;
        Path copy = base.resolve("cp");
        for (int round = 0; round < 2; round++) {
            delete(out);
            delete(copy);
            sync();
            System.gc();
            List<MemoryPoolMXBean> heap = ManagementFactory.getMemoryPoolMXBeans().stream()
                    .filter(p -> p.getType() == MemoryType.HEAP).toList();
            heap.forEach(MemoryPoolMXBean::resetPeakUsage);
            AtomicLong sampled = new AtomicLong();
            Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                Runtime rt = Runtime.getRuntime();
                while (!Thread.currentThread().isInterrupted()) {
                    sampled.accumulateAndGet(rt.totalMemory() - rt.freeMemory(), Math::max);
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            long c0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            r = Pruner.prune(model, mask, out, Pruner.Options.defaults());
            pruneS = Math.min(pruneS, (System.nanoTime() - t0) / 1e9);
            pruneCpu = Math.min(pruneCpu, (os.getProcessCpuTime() - c0) / 1e9);
            sampler.interrupt();
            sampler.join();
            poolPeak = Math.max(poolPeak, heap.stream().mapToLong(p -> p.getPeakUsage().getUsed()).sum());
            sampledPeak = Math.max(sampledPeak, sampled.get());

            sync();
            long t1 = System.nanoTime();
            // bash's `times` prints the children's user and system CPU on its second line: "0m0.010s 0m1.234s".
            Process p = new ProcessBuilder("bash", "-c", "cp -r \"$0\" \"$1\" && times", out.toString(), copy.toString())
                    .redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) throw new IOException("cp failed: " + text);
            cpS = Math.min(cpS, (System.nanoTime() - t1) / 1e9);
            String[] lines = text.strip().split("\n");
            double cpu = 0;
            for (String part : lines[lines.length - 1].trim().split("\\s+")) {
                int m = part.indexOf('m');
                cpu += Integer.parseInt(part.substring(0, m)) * 60 + Double.parseDouble(part.substring(m + 1, part.length() - 1));
            }
            cpCpu = Math.min(cpCpu, cpu);
        }
        delete(copy);

        long kept = r.totalSize();
        return new String[]{shape == SMALL ? "small" : "large", mb(input), mb(kept), f(pruneS), f(kept / 1e6 / pruneS),
                f(cpS), f(kept / 1e6 / cpS), String.format("%.2fx", cpS / pruneS), f(pruneCpu), f(cpCpu), mb(poolPeak), mb(sampledPeak)};
    }

    private static void sync() throws IOException, InterruptedException {
        new ProcessBuilder("sync").inheritIO().start().waitFor();
    }

    private static ExpertMask halfMask(ModelSpec spec) {
        Random rnd = new Random(1);
        int e = spec.moe().numExperts();
        int[][] kept = new int[spec.moeLayers().size()][];
        for (int l = 0; l < kept.length; l++) {
            List<Integer> ids = new ArrayList<>();
            for (int x = 0; x < e; x++) ids.add(x);
            java.util.Collections.shuffle(ids, rnd);
            kept[l] = ids.subList(0, e / 2).stream().mapToInt(Integer::intValue).sorted().toArray();
        }
        return new ExpertMask("", spec.family().modelType(), e, spec.moe().topK(), spec.moeLayers(), kept, "bench",
                "half", List.of());
    }

    private static long sizeOf(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            long n = 0;
            for (Path p : s.filter(x -> x.toString().endsWith(suffix)).toList()) n += Files.size(p);
            return n;
        }
    }

    private static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static String mb(long bytes) {
        return String.format("%.1f MB", bytes / 1e6);
    }

    private static String f(double v) {
        return String.format("%.2f", v);
    }
}
