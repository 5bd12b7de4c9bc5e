package io.moeprune.bench;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.CausalAttention;

import java.util.Random;

/**
 * Long prefill attention, blocked (BlockedAttention: blocks of queries and keys, online softmax) against the
 * four-query path over all keys, alternated in one process (issue 20: DeepSeek-V3's expanded MLA prefill, 128 heads of
 * 192/128, ran at ~5 GFLOP/s a thread on the GPU machine). Prints per path the best of the runs and its GFLOP/s
 * (causal multiply-adds of q·k and p·v, two flops each), and the largest difference between the two results.
 *
 * <pre>
 * bench/run prefillAttention [--tokens 2048] [--heads 128] [--dim 192] [--value 128] [--threads N] [--runs 3]
 * </pre>
 */
public final class PrefillAttentionBench {
    private PrefillAttentionBench() {
    }

    public static void main(String[] args) {
        int tokens = 2048, heads = 128, dim = 192, value = 128, runs = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                case "--heads" -> heads = Integer.parseInt(args[++i]);
                case "--dim" -> dim = Integer.parseInt(args[++i]);
                case "--value" -> value = Integer.parseInt(args[++i]);
                case "--threads" -> Parallel.setThreads(Integer.parseInt(args[++i]));
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("prefillAttention: unknown argument " + args[i]);
                    System.exit(2);
                }
            }
        }
        Random rnd = new Random(1);
        float[] qs = gaussian(rnd, tokens * heads * dim), kc = gaussian(rnd, tokens * heads * dim);
        float[] vc = gaussian(rnd, tokens * heads * value);
        float scale = (float) (1 / Math.sqrt(dim));
        double flops = 2.0 * heads * (tokens * (tokens + 1L) / 2) * (dim + value);
        System.out.printf("prefill attention: %d tokens, %d heads of %d/%d, %d threads, %.1f GFLOP causal%n", tokens,
                heads, dim, value, Parallel.threads(), flops / 1e9);
        String[] names = {"four queries, all keys", "blocked"};
        int[] minRows = {Integer.MAX_VALUE, 1};
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE};
        float[][] results = new float[2][];
        int was = KernelSwitches.blockedAttentionMinRows(64);
        try {
            for (int run = 0; run <= runs; run++) {   // run 0 warms both up
                for (int v = 0; v < 2; v++) {
                    KernelSwitches.blockedAttentionMinRows(minRows[v]);
                    long t = System.nanoTime();
                    results[v] = CausalAttention.attend(qs, kc, vc, tokens, tokens, 0, heads, heads, dim, value, scale,
                            0, null);
                    double s = (System.nanoTime() - t) / 1e9;
                    if (run > 0) best[v] = Math.min(best[v], s);
                }
            }
        } finally {
            KernelSwitches.blockedAttentionMinRows(was);
        }
        for (int v = 0; v < 2; v++) {
            System.out.printf("%-24s %8.3f s  %7.1f GFLOP/s  (%.1f a thread)%n", names[v], best[v], flops / best[v] / 1e9,
                    flops / best[v] / 1e9 / Parallel.threads());
        }
        double diff = 0;
        for (int i = 0; i < results[0].length; i++) diff = Math.max(diff, Math.abs(results[0][i] - results[1][i]));
        System.out.printf("blocked / four queries: %.2fx faster; largest difference %.2g%n", best[0] / best[1], diff);
    }

    private static float[] gaussian(Random rnd, int size) {
        float[] a = new float[size];
        for (int i = 0; i < size; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }
}
