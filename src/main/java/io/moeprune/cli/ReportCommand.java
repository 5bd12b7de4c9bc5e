package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.io.IoErrors;
import io.moeprune.io.StagedOutput;
import io.moeprune.model.ModelSpec;
import io.moeprune.report.DomainFiles;
import io.moeprune.report.Report;
import io.moeprune.report.ReportConfig;
import io.moeprune.report.ImplausibleLoss;
import io.moeprune.report.ReportFiles;
import io.moeprune.report.ReportHtml;
import io.moeprune.report.ReportJson;
import io.moeprune.report.SpeedClaim;
import io.moeprune.report.ReportRun;
import io.moeprune.runtime.Models;
import io.moeprune.select.Method;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import io.moeprune.report.ModelMeasurement;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * {@code moeprune report MODEL --domains ... --out DIR}: the EASY-EP study on the user's model (every domain x method x
 * budget, in and out of domain), the easyep masks of one domain pruned into real checkpoints, and their size, speed
 * and loss, written as a self-contained HTML page and Markdown.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Runs the domain study (calibrate, select with every method at every budget, evaluate in and "
                + "out of domain), prunes one domain's easyep masks into real checkpoints, measures their size, speed "
                + "and loss, and writes DIR/report.html (self-contained), DIR/report.md and DIR/results.json (the numbers).",
                "Exit codes: 0 done, 1 a pruned checkpoint's loss differs from the masked full model's, 2 bad input."})
public final class ReportCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "model directory (config.json, safetensors, tokenizer.json)")
    Path model;

    @Option(names = "--domains", required = true, arity = "1..*", paramLabel = "DIR_OR_FILE",
            description = "one document file per domain (.jsonl, .jsonl.gz, .parquet; see \"Document inputs\" in "
                    + "docs/formats.md), directories of them, or NAME=FILE; the first --demos documents of each are "
                    + "demonstrations, the next ones held out")
    List<String> domains;

    @Option(names = "--text-field", paramLabel = "NAME", description = "read each document's text from this key (a.b for nested keys)")
    String textField;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output directory")
    Path out;

    @Option(names = "--force", description = "replace DIR if it exists (once the new report is complete)")
    boolean force;

    @Option(names = "--methods", split = ",", paramLabel = "M", defaultValue = "easyep,reap,gating,frequency,premoe,random",
            description = "selection methods (default ${DEFAULT-VALUE}; easyep is always included)")
    List<String> methods;

    @Option(names = "--keeps", converter = Ranges.Positive.class, split = ",", paramLabel = "K", defaultValue = "16,8",
            description = "experts kept per MoE layer, one budget each (default ${DEFAULT-VALUE})")
    List<Integer> keeps;

    @Option(names = "--demos", converter = Ranges.Positive.class, defaultValue = "8", description = "demonstrations per domain (default ${DEFAULT-VALUE})")
    int demos;

    @Option(names = "--demo-tokens", converter = Ranges.Positive.class, defaultValue = "2048", description = "tokens per demonstration (default ${DEFAULT-VALUE})")
    int demoTokens;

    @Option(names = "--eval-docs", converter = Ranges.Positive.class, defaultValue = "32", description = "held-out documents per domain (default ${DEFAULT-VALUE})")
    int evalDocs;

    @Option(names = "--eval-tokens", converter = Ranges.Positive.class, defaultValue = "256", description = "held-out documents are scored whole, in rolling windows of this many tokens (default ${DEFAULT-VALUE})")
    int evalTokens;

    @Option(names = "--prune-domain", paramLabel = "NAME", description = "domain whose easyep masks are pruned (default: the first)")
    String pruneDomain;

    @Option(names = "--prompt-tokens", converter = Ranges.Positive.class, defaultValue = "128", description = "prompt length for the prefill speed (default ${DEFAULT-VALUE})")
    int promptTokens;

    // No defaultValue (picocli would apply it after parsing and undo the hidden alias): the initialiser is the default.
    @Option(names = "--decode-tokens", converter = Ranges.Positive.class, paramLabel = "N",
            description = "tokens decoded for the decode speed (default ${DEFAULT-VALUE})")
    int decodeTokens = 32;

    @Option(names = "--decode-steps", hidden = true, converter = Ranges.Positive.class, description = "old name of --decode-tokens")
    void decodeSteps(int n) {
        decodeTokens = n;
    }

    @Option(names = "--runs", converter = Ranges.Positive.class, defaultValue = "3", description = "timed runs per model, median reported (default ${DEFAULT-VALUE})")
    int runs;

    @Option(names = "--seed", defaultValue = "1", description = "seed of the random method (default ${DEFAULT-VALUE})")
    long seed;

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
        Map<String, Path> files = DomainFiles.parse(domains);
        String prune = pruneDomain == null ? files.keySet().iterator().next() : pruneDomain;
        if (!files.containsKey(prune)) {
            throw new MoepruneException("--prune-domain " + prune + " is not one of the domains " + files.keySet());
        }
        ModelSpec modelSpec = Models.spec(model);
        ReportConfig config = new ReportConfig(model, files, methods(methods), keeps(keeps, modelSpec), demos, demoTokens,
                evalDocs, evalTokens, prune, promptTokens, decodeTokens, runs, seed,
                "moeprune " + String.join(" ", spec.commandLine().getParseResult().originalArgs()), textField);
        return run(dir -> config, out, force, spec.commandLine().getOut(), spec.commandLine().getErr(), "report",
                run.quiet.quiet, json.json, output.output, dir -> { });
    }

    /**
     * Runs the report into a staged directory and moves it into place; shared with quickstart.
     * {@code configIn.apply(dir)} is the configuration with its files under {@code dir}: the staging directory while
     * running, the final one for what the report prints.
     */
    static int run(Function<Path, ReportConfig> configIn, Path out, boolean force, PrintWriter stdout, PrintWriter stderr,
                   String name, boolean quiet, boolean json, Path output, Consumer<Path> prepare) {
        try (StagedOutput dir = StagedOutput.directory(out, force)) {
            prepare.accept(dir.staging());
            ReportConfig config = configIn.apply(dir.staging());
            checkCounts(config);
            Report report = ReportRun.run(config, dir.staging(), line -> {
                if (quiet) return;
                stderr.println(name + ": " + line);
                stderr.flush();
            });
            report = report.withConfig(configIn.apply(dir.target()));
            ReportFiles.write(report, dir.staging());
            dir.commit();
            Path html = dir.target().resolve(ReportFiles.HTML);
            if (json || output != null) {
                // results.json's object, with where the report's files are.
                ObjectNode result = ReportJson.of(report).put("report", html.toString())
                        .put("markdown", dir.target().resolve(ReportFiles.MARKDOWN).toString())
                        .put("results", dir.target().resolve(ReportFiles.RESULTS).toString());
                ResultJson.emit(result, json, output, stdout);
            }
            if (!json) {
                printSummary(report, stdout);
                for (String w : ImplausibleLoss.warnings(report.study())) stdout.println("warning: " + w);
            }
            if (!report.pruningExact()) {
                stderr.println("moeprune: error: a pruned checkpoint's loss differs from the masked full model's "
                        + "(see the report); pruning was not exact");
            }
            if (!json) stdout.println("report: " + html + " (Markdown: " + dir.target().resolve(ReportFiles.MARKDOWN) + ")");
            stdout.flush();
            return report.pruningExact() ? 0 : MoepruneException.FAILED;
        } catch (java.io.UncheckedIOException e) {   // disk full, permissions: a failure, not a bug
            throw new MoepruneException(out + ": cannot write: " + IoErrors.reason(e.getCause()),
                    MoepruneException.FAILED, e);
        }
    }

    /**
     * A few lines for the terminal: each pruned checkpoint against the full model (speeds as median and range of the
     * runs), then what may be said about each one's decode speed.
     */
    private static void printSummary(Report report, PrintWriter out) {
        ModelMeasurement full = report.models().getFirst();
        out.printf(Locale.ROOT, "%-16s %7s %10s %20s %18s %8s  %s%n", "model", "experts", "on disk", "prefill tok/s",
                "decode tok/s", "loss", "exact (vs masked full model)");
        for (ModelMeasurement m : report.models()) {
            out.printf(Locale.ROOT, "%-16s %7s %10s %20s %18s %8.4f  %s%n", m.label(),
                    m.experts() + "/" + full.experts(), ReportHtml.bytes(m.diskBytes()),
                    m.throughput().prefill().format(), m.throughput().decode().format(), m.loss().loss(),
                    !m.pruned() ? "" : m.lossMismatch() <= ReportRun.EXACT_TOLERANCE
                            ? String.format(Locale.ROOT, "yes (%.4f)", m.maskedLoss().loss()) : "NO");
        }
        out.printf(Locale.ROOT, "speeds: median (range) of %d runs%n", full.throughput().runs());
        for (ModelMeasurement m : report.models()) {
            if (m.pruned()) out.println(m.label() + ": " + SpeedClaim.decode(m, full));
        }
    }

    static List<Method> methods(List<String> names) {
        List<Method> out = new ArrayList<>(List.of(Method.EASYEP));
        for (String n : names) {
            Method m = Method.parse(n.trim());
            if (!out.contains(m)) out.add(m);
        }
        return out;
    }

    static List<Integer> keeps(List<Integer> keeps, ModelSpec spec) {
        int e = spec.moe().numExperts(), k = spec.moe().topK();
        for (int keep : keeps) {
            if (keep < k || keep >= e) {
                throw new MoepruneException("--keeps " + keep + ": must be at least top-k (" + k + ") and below the "
                        + e + " routed experts of the model");
            }
        }
        return keeps.stream().distinct().sorted((a, b) -> b - a).toList();
    }

    private static void checkCounts(ReportConfig c) {
        for (var e : Map.of("--demos", c.demos(), "--demo-tokens", c.maxDemoTokens(), "--eval-docs", c.evalDocs(),
                "--eval-tokens", c.evalTokens() - 1, "--prompt-tokens", c.promptTokens(), "--runs", c.runs()).entrySet()) {
            if (e.getValue() < 1) throw new MoepruneException(e.getKey() + " is too small");
        }
        if (c.decodeSteps() < 1) throw new MoepruneException("--decode-tokens must be at least 1");
    }
}
