package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.kernels.Parallel;

/** Applies a command's {@code --threads} option before any kernel runs. */
final class Threads {
    private Threads() {
    }

    static void apply(Integer threads) {
        if (threads == null) return;
        if (threads < 1) throw new MoepruneException("--threads must be at least 1, got " + threads);
        Parallel.setThreads(threads);
    }
}
