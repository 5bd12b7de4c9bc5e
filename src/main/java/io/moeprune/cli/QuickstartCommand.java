package io.moeprune.cli;

import io.moeprune.report.QuickstartData;
import io.moeprune.report.ReportConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code moeprune quickstart}: the whole pipeline on what ships with the repository: calibrate -> select -> prune ->
 * eval -> report on the embedded moe-tiny-7d, with the project's own Java sources as the domain to prune for and its
 * own Markdown documentation as the out-of-domain comparison.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = {"Runs calibrate -> select -> prune -> eval -> report on the embedded model models/moe-tiny-7d, "
                + "with the project's own Java sources (domain java, pruned for) and Markdown documentation (domain "
                + "docs, out of domain). About 100 CPU-seconds (about a minute on 2 idle cores); prints where the report is "
                + "(report.html, report.md and results.json, the numbers, in the output directory).",
                "Exit codes: 0 done, 1 a pruned checkpoint's loss differs from the masked full model's, 2 bad input."})
public final class QuickstartCommand implements Callable<Integer> {

    @Option(names = "--out", defaultValue = "quickstart-out", paramLabel = "DIR", description = "output directory (default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--force", description = "replace DIR if it exists (once the new output is complete)")
    boolean force;

    @Option(names = "--methods", split = ",", paramLabel = "M", defaultValue = "easyep,frequency,random",
            description = "selection methods (default ${DEFAULT-VALUE})")
    List<String> methods;

    @Option(names = "--keeps", converter = Ranges.Positive.class, split = ",", paramLabel = "K", defaultValue = "16,8",
            description = "experts kept per MoE layer (default ${DEFAULT-VALUE})")
    List<Integer> keeps;

    @Option(names = "--demos", converter = Ranges.Positive.class, defaultValue = "4", description = "demonstrations per domain (default ${DEFAULT-VALUE})")
    int demos;

    @Option(names = "--demo-tokens", converter = Ranges.Positive.class, defaultValue = "1024", description = "tokens per demonstration (default ${DEFAULT-VALUE})")
    int demoTokens;

    @Option(names = "--eval-docs", converter = Ranges.Positive.class, defaultValue = "8", description = "held-out documents per domain (default ${DEFAULT-VALUE})")
    int evalDocs;

    @Option(names = "--eval-tokens", converter = Ranges.Positive.class, defaultValue = "256", description = "held-out documents are scored whole, in rolling windows of this many tokens (default ${DEFAULT-VALUE})")
    int evalTokens;

    @Option(names = "--runs", converter = Ranges.Positive.class, defaultValue = "3", description = "timed runs per model for the speed figures (default ${DEFAULT-VALUE})")
    int runs;

    @Mixin
    RunOptions run = new RunOptions();

    @Mixin
    JsonOption json = new JsonOption();

    @Mixin
    OutputOption output = new OutputOption();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        try (DeviceOption.Session session = run.device.open()) {
            return run();
        }
    }

    private Integer run() {
        run.threads.apply();
        run.memoryBudget.apply(out.toAbsolutePath().getParent());
        Path root = QuickstartData.findRoot(candidates());
        Path model = root.resolve(QuickstartData.MODEL);
        List<Integer> keepList = ReportCommand.keeps(keeps, io.moeprune.runtime.Models.spec(model));
        var methodList = ReportCommand.methods(methods);
        String commandLine = "moeprune " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
        if (!run.quiet.quiet) spec.commandLine().getErr().println("quickstart: calibrate -> select -> prune -> eval -> report on " + model
                + ", domains java (this project's sources, pruned for) and docs (its Markdown, out of domain)");
        return ReportCommand.run(dir -> {
            Map<String, Path> domains = new LinkedHashMap<>();
            for (String d : List.of("java", "docs")) domains.put(d, dir.resolve("data").resolve(d + ".jsonl"));
            return new ReportConfig(model, domains, methodList, keepList, demos, demoTokens, evalDocs, evalTokens, "java",
                    128, 32, runs, 1, commandLine.strip());
        }, out, force, spec.commandLine().getOut(), spec.commandLine().getErr(), "quickstart",
                run.quiet.quiet, json.json, output.output, dir -> QuickstartData.write(root, dir.resolve("data")));
    }

    /** The repository root is the jar's grandparent (target/moeprune.jar) or the working directory. */
    private static List<Path> candidates() {
        List<Path> c = new ArrayList<>();
        try {
            Path code = Path.of(QuickstartCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (code.getParent() != null) c.add(code.getParent().getParent());
        } catch (URISyntaxException | SecurityException | NullPointerException | IllegalArgumentException e) {
            // no code source: the working directory alone
        }
        c.add(Path.of("").toAbsolutePath());
        return c;
    }
}
