package io.moeprune.cli;

import io.moeprune.kernels.Parallel;
import picocli.CommandLine.Option;

/** {@code --threads N} of the commands that compute (picocli mixin): applied before any kernel runs. */
final class ThreadsOption {
    @Option(names = "--threads", paramLabel = "N", converter = Ranges.Positive.class,
            description = "compute threads (default: all cores)")
    Integer threads;

    /** Sets the kernels' thread count when the option was given. */
    void apply() {
        if (threads != null) Parallel.setThreads(threads);
    }
}
