package io.moeprune.bench;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PhaseTimes;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Decode (or prefill) speed of kernel variants compared in one process, alternated run by run, so that they share
 * the model's mapping, the JIT and the host's swings: between processes the GPU machine's decode speed moves by up to
 * 2×, which hid every difference under 10-15 % on 2026-11-24. Each round runs every variant once (a prefill of the
 * prompt, untimed, then the timed decode steps), starting from a different variant each round; the table gives each
 * variant's median tokens/s, the median of its per-round ratio to the first variant, and its decode phases (with
 * {@code -Dmoeprune.phases=true}). With {@code --decode 0} the prefill is timed instead (and its phases shown).
 *
 * <pre>
 * bench/run decodeAb MODEL_DIR [--threads N] [--prompt 256] [--decode 32] [--rounds 8]
 *                   [--variants default,nov24-0301]   # names in KNOWN; --decode 0 times the prefill
 * </pre>
 */
public final class DecodeAbBench {

    /** A named setting of the kernel switches. */
    record Variant(String name, int pairMinCols, boolean spreadRows, boolean eightRows, int chunksPerThread,
                   long minWork, boolean smallSplit, boolean groupedHeads, boolean shuffledSums, int blockRows,
                   boolean valuesInOrder, boolean ownedChunks, boolean readAhead, boolean interleaved,
                   boolean callerReadsAhead, int attentionDivisor) {

        void apply() {
            KernelSwitches.pairKernelFrom(pairMinCols);
            KernelSwitches.spreadRows(spreadRows);
            KernelSwitches.eightRows(eightRows);
            KernelSwitches.chunksPerThread(chunksPerThread);
            KernelSwitches.minWorkPerThread(minWork);
            KernelSwitches.smallSplit(smallSplit);
            KernelSwitches.groupedHeads(groupedHeads);
            KernelSwitches.shuffledSums(shuffledSums);
            KernelSwitches.decodeBlockRows(blockRows);
            KernelSwitches.valuesInOrder(valuesInOrder);
            KernelSwitches.ownedChunks(ownedChunks);
            KernelSwitches.readAhead(readAhead);
            KernelSwitches.interleavedChunks(interleaved);
            KernelSwitches.callerReadsAhead(callerReadsAhead);
            KernelSwitches.attentionThreadsDivisor(attentionDivisor);
        }
    }

    private static final int OFF = Integer.MAX_VALUE;
    private static final long WORK = Parallel.MIN_WORK_PER_THREAD;

    /**
     * The defaults first (eight rows, lane sums across vectors, 16-row blocks, attention values read in order first,
     * owned chunks, workers reading the next product ahead, long-context attention on half the threads);
     * nov24-0301 and nov24-0510 are the defaults of the code of 2026-11-24 03:01 and 05:10 UTC (05:10: lane sums from
     * stored lanes, 32-row blocks); the
     * others each change one thing: four spread rows, four neighbouring rows, the pair kernel (on four spread rows), 4
     * or 16 chunks a thread, a split from 32 KB of work a thread, a router in 32-row blocks, attention one head at a
     * time, 32-row blocks, attention weighting its values without reading them in order first, owned chunks without
     * reading ahead, owned chunks interleaved, the caller reading ahead too, attention items for every thread;
     * nov24-0651 is the code of 2026-11-24 06:51-08:19 UTC (one counter for all chunks, nothing read ahead).
     */
    static final List<Variant> KNOWN = List.of(
            new Variant("default", OFF, true, true, 8, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("nov24-0301", OFF, true, false, 4, WORK, false, false, false, 32, false, false, false, false, false, 1),
            new Variant("nov24-0510", OFF, true, true, 8, WORK, true, true, false, 32, false, false, false, false, false, 1),
            new Variant("four", OFF, true, false, 8, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("neighbours", OFF, false, false, 8, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("pairs", 1024, true, false, 8, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("chunks4", OFF, true, true, 4, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("chunks16", OFF, true, true, 16, WORK, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("work32k", OFF, true, true, 8, 32 << 10, true, true, true, 16, true, true, true, false, false, 2),
            new Variant("nosmall", OFF, true, true, 8, WORK, false, true, true, 16, true, true, true, false, false, 2),
            new Variant("headwise", OFF, true, true, 8, WORK, true, false, true, 16, true, true, true, false, false, 2),
            new Variant("rows32", OFF, true, true, 8, WORK, true, true, true, 32, true, true, true, false, false, 2),
            new Variant("strided", OFF, true, true, 8, WORK, true, true, true, 16, false, true, true, false, false, 2),
            new Variant("noahead", OFF, true, true, 8, WORK, true, true, true, 16, true, true, false, false, false, 2),
            new Variant("nov24-0651", OFF, true, true, 8, WORK, true, true, true, 16, true, false, false, false, false, 1),
            new Variant("interleaved", OFF, true, true, 8, WORK, true, true, true, 16, true, true, true, true, false, 2),
            new Variant("callerahead", OFF, true, true, 8, WORK, true, true, true, 16, true, true, true, false, true, 2),
            new Variant("fullattn", OFF, true, true, 8, WORK, true, true, true, 16, true, true, true, false, false, 1));

    public static void main(String[] args) throws Exception {
        if (args.length < 1) usage();
        Path dir = Path.of(args[0]);
        int promptLen = 256, decodeLen = 32, rounds = 8;
        List<Variant> variants = KNOWN.subList(0, 2);   // default,nov24-0301
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[i + 1]));
                case "--prompt" -> promptLen = Integer.parseInt(args[i + 1]);
                case "--decode" -> decodeLen = Integer.parseInt(args[i + 1]);
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                case "--variants" -> variants = parse(args[i + 1]);
                default -> usage();
            }
        }
        int v = variants.size();
        try (Model model = Models.open(dir); Arena arena = Arena.ofShared()) {
            Random random = new Random(7);
            int[] prompt = random.ints(promptLen, 0, model.spec().vocabSize()).toArray();
            long activeBytes = model.activeWeightBytesPerToken();
            // Warm-up: every variant's kernels compiled before anything is timed.
            long warmEnd = System.nanoTime() + 2_000_000_000L;
            for (int w = 0; w < 2 * v || System.nanoTime() < warmEnd; w++) {
                variants.get(w % v).apply();
                timedRun(model, prompt, Math.min(8, decodeLen));
            }
            PhaseTimes.take();
            MemorySegment probe = Roofline.randomBytes(arena, 1L << 30, 1);
            double[][] speed = new double[v][rounds], ratio = new double[v][rounds];
            double[] bandwidth = new double[rounds];
            long[][] phases = new long[v][PhaseTimes.Phase.values().length];
            for (int r = 0; r < rounds; r++) {
                bandwidth[r] = Roofline.readBandwidth(probe, 0.25).wall() * 1e9;
                for (int k = 0; k < v; k++) {
                    int i = (r + k) % v;
                    variants.get(i).apply();
                    speed[i][r] = timedRun(model, prompt, decodeLen);
                    long[] t = PhaseTimes.take();
                    for (int p = 0; p < t.length; p++) phases[i][p] += t[p];
                }
                for (int i = 0; i < v; i++) ratio[i][r] = speed[i][r] / speed[0][r];
            }
            KNOWN.getFirst().apply();
            double roof = median(bandwidth) / activeBytes;
            System.out.printf(Locale.ROOT, "model %s, threads %d, prompt %d, %d decode steps × %d rounds; probe %.0f"
                            + " GB/s (median; %.0f-%.0f), decode roofline %.1f tokens/s%n", dir.getFileName(),
                    Parallel.threads(), promptLen, decodeLen, rounds, median(bandwidth) / 1e9,
                    Arrays.stream(bandwidth).min().orElse(0) / 1e9, Arrays.stream(bandwidth).max().orElse(0) / 1e9,
                    roof);
            System.out.printf(Locale.ROOT, "%-14s %10s %8s %8s %10s %9s%n", "variant", "tokens/s", "min", "max",
                    "of roof", "vs first");
            boolean prefill = decodeLen == 0;   // then tokens/s are the prefill's: no bandwidth roofline applies
            for (int i = 0; i < v; i++) {
                System.out.printf(Locale.ROOT, "%-14s %10.1f %8.1f %8.1f %10s %9.3f%n", variants.get(i).name(),
                        median(speed[i]), Arrays.stream(speed[i]).min().orElse(0),
                        Arrays.stream(speed[i]).max().orElse(0),
                        prefill ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * median(speed[i]) / roof),
                        median(ratio[i]));
            }
            if (PhaseTimes.ON) {
                for (int i = 0; i < v; i++) {
                    System.out.printf("%n%s phases of %s (%d × %s):%n%s", prefill ? "prefill" : "decode",
                            variants.get(i).name(), rounds, prefill ? promptLen + " tokens" : decodeLen + " steps",
                            PhaseTimes.table(phases[i]));
                }
            }
        }
    }

    /**
     * Prefills the prompt, then returns decode tokens/s over {@code steps} greedy steps; with no steps, the prefill's
     * tokens/s.
     */
    private static double timedRun(Model model, int[] prompt, int steps) {
        InferenceState state = model.newState(prompt.length + steps);
        PhaseTimes.take();
        long start = System.nanoTime();
        int next = RuntimeBench.argmax(model.forward(prompt, state, false));
        if (steps == 0) return prompt.length / ((System.nanoTime() - start) / 1e9);
        PhaseTimes.take();
        long t0 = System.nanoTime();
        for (int s = 0; s < steps; s++) next = RuntimeBench.argmax(model.decode(next, state));
        return steps / ((System.nanoTime() - t0) / 1e9);
    }

    private static List<Variant> parse(String names) {
        List<Variant> out = new ArrayList<>();
        for (String n : names.split(",")) {
            out.add(KNOWN.stream().filter(k -> k.name().equals(n.trim())).findFirst().orElseThrow(
                    () -> new IllegalArgumentException("unknown variant '" + n + "'; known: "
                            + KNOWN.stream().map(Variant::name).toList())));
        }
        return out;
    }

    private static void usage() {
        System.err.println("usage: bench/run decodeAb MODEL_DIR [--threads N] [--prompt 256] [--decode 32] [--rounds 8]"
                + " [--variants " + String.join(",", KNOWN.stream().map(Variant::name).toList()) + "]");
        System.exit(2);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
