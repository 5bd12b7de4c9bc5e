package io.moeprune.cli;

import java.util.List;

/** The registered subcommands, in the order `moeprune --help` lists them. Add new commands here. */
final class Subcommands {
    private Subcommands() {
    }

    static List<Object> all() {
        return List.of(new InspectCommand(), new GenerateCommand(), new PerplexityCommand(), new CalibrateCommand(),
                new SelectCommand(), new AnalyzeCommand(), new PruneCommand(), new EvalCommand(), new ReportCommand(),
                new QuickstartCommand(), new PatternsCommand(), new ServeCommand(), new DevicesCommand());
    }
}
