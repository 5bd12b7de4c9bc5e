package io.moeprune.bench;

import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.BatchedDecode;
import io.moeprune.runtime.BatchedPrefill;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PhaseTimes;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * A decode step of B sequences at once ({@link BatchedDecode}, what the server's scheduler runs) against one
 * sequence's step ({@link Model#decode}), in one process, the batch sizes alternated round by round: ms per step,
 * output tokens/s and its ratio to one sequence's (issue 21's goal: at least 3 at 32 on 16 cores), and with
 * {@code -Dmoeprune.phases=true} where a step's time goes (per step); and the B prompts' prefill, one after another
 * (the scheduler before 2026-12-07) against together ({@link BatchedPrefill}). No server, no HTTP: what the load
 * test's rows lose beyond these is the scheduler's and the server's.
 *
 * <pre>bench/run batchedDecode MODEL [--threads N] [--batches 1,8,32] [--prompt 16] [--steps 16] [--rounds 3]</pre>
 */
public final class BatchedDecodeBench {
    private BatchedDecodeBench() {
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int[] batches = {1, 8, 32};
        int prompt = 16, steps = 16, rounds = 3;
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[i + 1]));
                case "--batches" -> batches = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--prompt" -> prompt = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        try (Model model = Models.open(dir)) {
            int vocab = model.spec().vocabSize();
            long[] nanos = new long[batches.length], oneByOne = new long[batches.length], together = new long[batches.length];
            long[][] phases = new long[batches.length][PhaseTimes.Phase.values().length];
            time(model, 2, prompt, 2, vocab, new long[2]);  // warm-up: JIT, first reads
            for (int r = 0; r < rounds; r++) {
                for (int j = 0; j < batches.length; j++) {
                    int b = (j + r) % batches.length;
                    PhaseTimes.take();
                    long[] t0 = new long[2];
                    nanos[b] += time(model, batches[b], prompt, steps, vocab, t0);
                    oneByOne[b] += t0[0];
                    together[b] += t0[1];
                    long[] t = PhaseTimes.take();
                    for (int p = 0; p < t.length; p++) phases[b][p] += t[p];
                }
            }
            System.out.printf(Locale.ROOT, "%s, %d threads, prompts of %d tokens, %d steps x %d rounds%n",
                    dir.getFileName(), Parallel.threads(), prompt, steps, rounds);
            System.out.println("| batch | ms per step | output tokens/s | vs batch 1 | prefill one by one ms | prefill together ms |");
            System.out.println("|---:|---:|---:|---:|---:|---:|");
            double one = 0;
            for (int j = 0; j < batches.length; j++) {
                double ms = nanos[j] / 1e6 / steps / rounds, perSecond = batches[j] * 1e3 / ms;
                if (batches[j] == 1) one = perSecond;
                System.out.printf(Locale.ROOT, "| %d | %.2f | %.1f | %s | %.1f | %.1f |%n", batches[j], ms, perSecond,
                        one > 0 ? String.format(Locale.ROOT, "%.2f", perSecond / one) : "-",
                        oneByOne[j] / 1e6 / rounds, together[j] / 1e6 / rounds);
            }
            if (PhaseTimes.ON) {
                for (int j = 0; j < batches.length; j++) {
                    long[] perStep = phases[j].clone();
                    for (int p = 0; p < perStep.length; p++) perStep[p] /= (long) steps * rounds;
                    System.out.printf(Locale.ROOT, "%nbatch %d, per step:%n%s", batches[j], PhaseTimes.table(perStep));
                }
            }
        }
    }

    /**
     * Prefills b prompts one by one and then together (their times into prefills[0] and [1]; phases dropped), then
     * times {@code steps} decode steps of all of them.
     */
    private static long time(Model model, int b, int prompt, int steps, int vocab, long[] prefills) {
        Random random = new Random(b);
        List<int[]> prompts = new ArrayList<>();
        int[] tokens = new int[b];
        for (int i = 0; i < b; i++) {
            prompts.add(random.ints(prompt, 0, vocab).toArray());
            tokens[i] = random.nextInt(vocab);
        }
        long t = System.nanoTime();
        for (int[] p : prompts) model.forward(p, model.newState(prompt + steps + 1), false);
        prefills[0] = System.nanoTime() - t;
        List<InferenceState> states = new ArrayList<>();
        for (int i = 0; i < b; i++) states.add(model.newState(prompt + steps + 1));
        t = System.nanoTime();
        BatchedPrefill.run(model, prompts, states);
        prefills[1] = System.nanoTime() - t;
        PhaseTimes.take();
        long t0 = System.nanoTime();
        for (int step = 0; step < steps; step++) {
            float[][] logits = b == 1 ? new float[][]{model.decode(tokens[0], states.getFirst())}
                    : BatchedDecode.step(model, tokens, states);
            for (int i = 0; i < b; i++) tokens[i] = argmax(logits[i]);
        }
        return System.nanoTime() - t0;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
