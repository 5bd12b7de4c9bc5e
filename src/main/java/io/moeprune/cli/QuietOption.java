package io.moeprune.cli;

import picocli.CommandLine.Option;

/** {@code --quiet}, the same on every long-running subcommand (picocli mixin). */
final class QuietOption {
    @Option(names = "--quiet", description = "no progress on standard error (bars, stage lines, timings); results and "
            + "errors still print. Bars are drawn only when standard error is a terminal anyway.")
    boolean quiet;
}
