package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.io.IoErrors;
import io.moeprune.io.StagedOutput;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.List;

/**
 * The {@code moeprune} command line. Each subcommand is a small class of its own; this class only wires them
 * together and turns {@link MoepruneException}s into one-line errors with meaningful exit codes:
 * 0 success, 1 the work failed, 2 bad input or usage.
 */
@Command(name = "moeprune", mixinStandardHelpOptions = true, version = io.moeprune.ToolVersion.TEXT,
        description = "Shrinks Mixture-of-Experts language models for a domain: calibrate on a few demonstrations, "
                + "score every routed expert, keep the important ones and write a smaller checkpoint.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static CommandLine commandLine() {
        return commandLine(null);
    }

    /**
     * The command line with only subcommand {@code only} registered when it names one (null or unknown: all).
     * picocli builds each registered command's model by reflection, a third of a second for all of them on a cold
     * JVM: a short command such as {@code prune} should not pay for the others. Help still lists all of them.
     */
    static CommandLine commandLine(String only) {
        CommandLine cl = new CommandLine(new Main());
        List<Object> subs = Subcommands.all();
        List<Object> chosen = subs.stream()
                .filter(s -> only != null && only.equals(s.getClass().getAnnotation(Command.class).name())).toList();
        for (Object sub : chosen.isEmpty() ? subs : chosen) cl.addSubcommand(sub);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            // A signal abandoned the output and its hook said so; what the main thread met after that is noise.
            if (StagedOutput.interruptedBySignal()) return MoepruneException.FAILED;
            Throwable t = ex;
            while (!(t instanceof MoepruneException) && t.getCause() != null && t.getCause() != t) t = t.getCause();
            if (t instanceof MoepruneException me) {
                line.getErr().println("moeprune: error: " + me.getMessage());
                return me.exitCode();
            }
            // An I/O error no command turned into a sentence (a full disk, permissions): still one line, not a trace.
            Throwable io = ex;
            while (!(io instanceof java.io.IOException) && io.getCause() != null && io.getCause() != io) io = io.getCause();
            if (io instanceof java.io.IOException ioe) {
                line.getErr().println("moeprune: error: " + IoErrors.withFile(ioe));
                return MoepruneException.FAILED;
            }
            if (t instanceof OutOfMemoryError) {
                line.getErr().println("moeprune: error: out of memory; raise --memory-budget (the launcher gives the heap half "
                        + "of it) or give the JVM more heap with JAVA_OPTS=-Xmx...");
                return MoepruneException.FAILED;
            }
            // A bug: keep the trace for the report, but say so plainly first.
            line.getErr().println("moeprune: internal error (please report): " + ex);
            ex.printStackTrace(line.getErr());
            return 70;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            if (ex.getCause() instanceof MoepruneException me) { // a converter found the file bad: not a usage error
                ex.getCommandLine().getErr().println("moeprune: error: " + me.getMessage());
                return me.exitCode();
            }
            ex.getCommandLine().getErr().println("moeprune: error: " + ex.getMessage());
            ex.getCommandLine().getErr().println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName()
                    + " --help' for usage.");
            return MoepruneException.BAD_INPUT;
        });
        return cl;
    }

    public static void main(String[] args) {
        System.exit(commandLine(args.length > 0 ? args[0] : null).execute(args));
    }
}
