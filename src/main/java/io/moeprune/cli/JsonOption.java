package io.moeprune.cli;

import picocli.CommandLine.Option;

/** {@code --json} on the commands that gained it with the "Machine-readable output" convention (picocli mixin). */
final class JsonOption {
    @Option(names = "--json", description = "print only one JSON object on standard output (README, \"Machine-readable "
            + "output\") instead of the text")
    boolean json;
}
