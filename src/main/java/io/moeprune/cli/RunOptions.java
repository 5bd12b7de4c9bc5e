package io.moeprune.cli;

import picocli.CommandLine.Mixin;

/**
 * How a command that runs the model runs it (picocli mixin of mixins): {@code --threads}, {@code --memory-budget},
 * {@code --device} / {@code --gpu-memory} and {@code --quiet}, shared by calibrate, perplexity, eval, report and
 * quickstart so they read and document them the same way.
 */
final class RunOptions {
    @Mixin
    ThreadsOption threads = new ThreadsOption();

    @Mixin
    MemoryBudgetOption memoryBudget = new MemoryBudgetOption();

    @Mixin
    DeviceOption device = new DeviceOption();

    @Mixin
    QuietOption quiet = new QuietOption();
}
