package io.moeprune.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code moeprune patterns}: PreMoe-style task-adaptive expert retrieval (a store of patterns, one per task). */
@Command(name = "patterns", mixinStandardHelpOptions = true,
        description = {"A store of expert patterns, one per task, each with a query signature; a prompt is matched to "
                + "the nearest pattern (PreMoe's task-adaptive expert retrieval). Format: docs/patterns.md."},
        subcommands = {PatternsBuildCommand.class, PatternsMatchCommand.class})
final class PatternsCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
