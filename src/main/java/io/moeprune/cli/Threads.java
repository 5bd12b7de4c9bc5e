package io.moeprune.cli;

import io.moeprune.MoepruneException;

/** Applies a command's {@code --threads} option before any kernel runs. */
final class Threads {
    private Threads() {
    }

    static void apply(Integer threads) {
        if (threads == null) return;
        if (threads < 1) throw new MoepruneException("--threads must be at least 1, got " + threads);
        System.setProperty("moeprune.threads", Integer.toString(threads));
        System.setProperty("java.util.concurrent.ForkJoinPool.common.parallelism", Integer.toString(Math.max(1, threads - 1)));
    }
}
