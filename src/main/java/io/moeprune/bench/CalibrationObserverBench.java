package io.moeprune.bench;

import io.moeprune.calibrate.CalibrationAccumulator;
import io.moeprune.calibrate.CalibrationObserver;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.Statistic;
import io.moeprune.gpu.runtime.ObserverWorkers;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * What the calibration observer costs the GPU pass per MoE layer (issue 22), on synthetic GPU traces (router
 * logits, top-k routing, ‖e‖ per slot, the turn per token; no residual), host only:
 * <ol>
 *   <li>one trace of {@code --tokens} tokens: the observer before this change (kept here as the baseline: per-token
 *       copies, nine EnumMap lookups per slot, PreMoe's top-k as k scans of E with two allocations per token) against
 *       {@link CalibrationObserver}, ms per layer, and whether their statistics are the same doubles;</li>
 *   <li>the pass's thread: the same tokens as {@code --sequences} sequences, observed one after the other on the
 *       pass's thread (as before) against handed to {@link ObserverWorkers} (time the pass's thread spends handing
 *       over, and the wall time until all are observed).</li>
 * </ol>
 * Usage: bench/run calibrationObserver [--tokens 16384] [--experts 64] [--top-k 8] [--sequences 8] [--rounds 15]
 */
public final class CalibrationObserverBench {
    private CalibrationObserverBench() {
    }

    public static void main(String[] args) {
        int tokens = 16384, experts = 64, topK = 8, sequences = 8, rounds = 15;
        for (int i = 0; i + 1 < args.length; i += 2) {
            int v = Integer.parseInt(args[i + 1]);
            switch (args[i]) {
                case "--tokens" -> tokens = v;
                case "--experts" -> experts = v;
                case "--top-k" -> topK = v;
                case "--sequences" -> sequences = v;
                case "--rounds" -> rounds = v;
                default -> {
                    System.err.println("usage: bench/run calibrationObserver [--tokens 16384] [--experts 64] "
                            + "[--top-k 8] [--sequences 8] [--rounds 15]");
                    System.exit(2);
                }
            }
        }
        if (args.length % 2 != 0 || tokens % sequences != 0) {
            System.err.println("calibrationObserver: options come in pairs, and --tokens must divide by --sequences");
            System.exit(2);
        }
        System.out.printf(Locale.ROOT, "calibration observer, %d tokens x %d experts top-%d, %d processors, java %s, %s%n",
                tokens, experts, topK, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
                java.time.LocalDate.now());
        MoeTrace whole = trace(0, tokens, experts, topK, 0, new Random(22));
        MoeTrace biased = trace(0, tokens, experts, topK, 1, new Random(22));
        List<Integer> moeLayers = List.of(0);

        CalibrationAccumulator after = new CalibrationAccumulator(1, experts, topK);
        Baseline before = new Baseline(experts, topK);
        MoeObserver now = new CalibrationObserver(after, moeLayers);
        now.onMoeBlock(whole);
        before.onMoeBlock(whole);
        after.endDemo("bench", tokens);
        boolean same = before.sameAs(after.result("", "", moeLayers));
        double baseMs = medianMs(rounds, () -> new Baseline(whole.numExperts(), whole.topK()).onMoeBlock(whole));
        CalibrationAccumulator scratch = new CalibrationAccumulator(1, experts, topK);
        double newMs = medianMs(rounds, () -> new CalibrationObserver(scratch, moeLayers).onMoeBlock(whole));
        double biasedBaseMs = medianMs(rounds, () -> new Baseline(biased.numExperts(), biased.topK()).onMoeBlock(biased));
        double biasedMs = medianMs(rounds, () -> new CalibrationObserver(scratch, moeLayers).onMoeBlock(biased));
        Baseline biasedBefore = new Baseline(experts, topK);
        CalibrationAccumulator biasedAfter = new CalibrationAccumulator(1, experts, topK);
        biasedBefore.onMoeBlock(biased);
        new CalibrationObserver(biasedAfter, moeLayers).onMoeBlock(biased);
        biasedAfter.endDemo("bench", tokens);
        same &= biasedBefore.sameAs(biasedAfter.result("", "", moeLayers));
        System.out.printf(Locale.ROOT, "%-44s %10s%n", "one trace (median of " + rounds + ")", "cpu ms/layer");
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "before (baseline)", baseMs);
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "CalibrationObserver", newMs);
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "before, chosen != raw top-k (baseline)", biasedBaseMs);
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "CalibrationObserver, chosen != raw top-k", biasedMs);
        System.out.printf(Locale.ROOT, "speed-up %.2fx (chosen != raw top-k: %.2fx), statistics bit-identical: %s%n",
                baseMs / newMs, biasedBaseMs / biasedMs, same);

        int per = tokens / sequences;
        List<MoeTrace> traces = new ArrayList<>();
        Random r = new Random(23);
        for (int s = 0; s < sequences; s++) traces.add(trace(0, per, experts, topK, 0, r));
        List<MoeObserver> observers = new ArrayList<>();
        for (int s = 0; s < sequences; s++) {
            observers.add(new CalibrationObserver(new CalibrationAccumulator(1, experts, topK), moeLayers));
        }
        double serialMs = medianMs(rounds, () -> {
            for (int s = 0; s < traces.size(); s++) observers.get(s).onMoeBlock(traces.get(s));
        });
        double[] handMs = new double[rounds], wallMs = new double[rounds];
        try (ObserverWorkers workers = new ObserverWorkers()) {
            for (int round = -3; round < rounds; round++) {   // three warm-up rounds
                long t0 = System.nanoTime();
                for (int s = 0; s < traces.size(); s++) workers.hand(s, observers.get(s), traces.get(s));
                long t1 = System.nanoTime();
                workers.finish();
                long t2 = System.nanoTime();
                if (round < 0) continue;
                handMs[round] = (t1 - t0) / 1e6;
                wallMs[round] = (t2 - t0) / 1e6;
            }
        }
        Arrays.sort(handMs);
        Arrays.sort(wallMs);
        System.out.printf(Locale.ROOT, "%-44s %10s%n", sequences + " sequences of " + per + " tokens, one layer", "ms/layer");
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "on the pass's thread, serial (cpu ms)", serialMs);
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "workers: the pass's thread handing over (wall)", handMs[rounds / 2]);
        System.out.printf(Locale.ROOT, "%-44s %10.2f%n", "workers: until all observed (wall)", wallMs[rounds / 2]);
    }

    /**
     * A GPU-form trace: Gaussian router logits, k of them chosen with softmax weights, random norms and turns. The
     * chosen are the top-k by raw logit from rank {@code skip} on: 0 as a softmax router chooses, 1 as a selection
     * bias or a mask may (PreMoe's raw top-k then differs from the routing).
     */
    private static MoeTrace trace(int layer, int n, int experts, int k, int skip, Random r) {
        float[] logits = new float[n * experts], weights = new float[n * k], norms = new float[n * k], turns = new float[n];
        int[] chosen = new int[n * k], top = new int[k + skip];
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < experts; e++) logits[t * experts + e] = (float) r.nextGaussian();
            Baseline.topIndices(logits, t * experts, experts, top);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.exp(logits[t * experts + top[j]]);
            for (int j = 0; j < k; j++) {
                chosen[t * k + j] = top[j + skip];
                weights[t * k + j] = (float) (Math.exp(logits[t * experts + top[j + skip]]) / sum);
                norms[t * k + j] = 0.5f + r.nextFloat();
            }
            turns[t] = 0.1f * r.nextFloat();
        }
        int[] positions = new int[n];
        for (int t = 0; t < n; t++) positions[t] = t;
        return new MoeTrace(layer, positions, n, 2048, experts, k, null, logits, chosen, weights, null, null, null,
                null, norms, turns);
    }

    /**
     * The median CPU time of the calling thread over {@code rounds} runs after three warm-ups, in ms: CPU rather than
     * wall time, as a shared machine's other processes take wall time from a single thread unevenly.
     */
    private static double medianMs(int rounds, Runnable work) {
        for (int i = 0; i < 3; i++) work.run();
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        double[] ms = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            long t0 = cpu.getCurrentThreadCpuTime();
            work.run();
            ms[i] = (cpu.getCurrentThreadCpuTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[rounds / 2];
    }

    /**
     * The calibration observer and accumulator as they were before the per-trace rewrite (2026-12-07), for GPU
     * traces: the baseline of this benchmark and the reference its statistics are compared with.
     */
    private static final class Baseline implements MoeObserver {
        private final int experts, topK;
        private final Map<Statistic, double[][]> current = new EnumMap<>(Statistic.class);

        Baseline(int experts, int topK) {
            this.experts = experts;
            this.topK = topK;
            for (Statistic s : Statistic.values()) current.put(s, new double[1][experts]);
        }

        @Override
        public void onMoeBlock(MoeTrace t) {
            int k = t.topK(), e = t.numExperts();
            int[] chosen = new int[k];
            float[] g = new float[k], norms = new float[k];
            for (int i = 0; i < t.n(); i++) {
                double turn = t.turns()[i];
                for (int s = 0; s < k; s++) {
                    chosen[s] = t.chosen()[i * k + s];
                    g[s] = t.weights()[i * k + s];
                    norms[s] = t.slotNorms()[i * k + s];
                }
                token(0, turn, chosen, g, norms, t.routerLogits(), i * e);
            }
        }

        private void token(int layer, double s, int[] chosen, float[] weights, float[] norms, float[] z, int off) {
            Map<Statistic, double[][]> c = current;
            for (int j = 0; j < chosen.length; j++) {
                int e = chosen[j];
                double g = weights[j], n = norms[j];
                c.get(Statistic.TOKENS_ROUTED)[layer][e] += 1;
                c.get(Statistic.SUM_G)[layer][e] += g;
                c.get(Statistic.SUM_NORM)[layer][e] += n;
                c.get(Statistic.SUM_G_NORM)[layer][e] += g * n;
                c.get(Statistic.SUM_G_NORM_S)[layer][e] += g * n * s;
                c.get(Statistic.SUM_G_S)[layer][e] += g * s;
                double[] max = c.get(Statistic.MAX_G_NORM)[layer];
                max[e] = Math.max(max[e], g * n);
            }
            int[] top = new int[Math.min(topK, experts)];
            topIndices(z, off, experts, top);
            current.get(Statistic.PREMOE_TOP1_LOGIT)[layer][top[0]] += z[off + top[0]];
            double max = z[off + top[0]], sum = 0;
            double[] p = new double[top.length];
            for (int j = 0; j < top.length; j++) sum += p[j] = Math.exp(z[off + top[j]] - max);
            for (int j = 0; j < top.length; j++) current.get(Statistic.PREMOE_TOPK_PROB)[layer][top[j]] += p[j] / sum;
        }

        /** The k largest, largest first, ties to the lower index: k scans of all n. */
        static void topIndices(float[] z, int off, int n, int[] top) {
            boolean[] taken = new boolean[n];
            for (int j = 0; j < top.length; j++) {
                int best = -1;
                for (int e = 0; e < n; e++) if (!taken[e] && (best < 0 || z[off + e] > z[off + best])) best = e;
                taken[best] = true;
                top[j] = best;
            }
        }

        boolean sameAs(ExpertStats stats) {
            for (Statistic s : Statistic.values()) {
                if (!Arrays.equals(current.get(s)[0], stats.aggregate(s)[0])) return false;
            }
            return true;
        }
    }
}
