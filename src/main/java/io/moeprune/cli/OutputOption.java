package io.moeprune.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --output FILE}, the same on every command whose results are worth keeping (picocli mixin; see ResultJson). */
final class OutputOption {
    @Option(names = "--output", paramLabel = "FILE.json", description = "also write the results to FILE as one JSON "
            + "object (the one --json prints), all or nothing; an existing FILE is replaced")
    Path output;
}
