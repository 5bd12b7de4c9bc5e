package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.calibrate.Calibrator;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.io.DocumentFiles;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code moeprune calibrate}: one teacher-forced pass over domain demonstrations, recording expert statistics. */
@Command(name = "calibrate", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Runs the model on a few domain demonstrations and records, per MoE layer and expert, the "
                + "statistics every selection method needs (one calibration serves them all)."},
        footer = {"", "Demonstrations: .jsonl, .jsonl.gz or .parquet files (or a directory of them) of {\"text\": ...}, "
                + "{\"messages\": [...]} (chat template) or {\"prompt\": ..., \"response\": ...} records, or any key "
                + "with --text-field; see \"Document inputs\" in docs/formats.md.",
                "--out is the statistics file select needs; --output FILE.json (or --json) is a summary of the run.",
                "Example:", "  moeprune calibrate MODEL --data math.jsonl --demos 8 --out math.stats"})
final class CalibrateCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "Hugging Face model directory")
    Path modelDir;

    @Option(names = "--data", arity = "1..*", paramLabel = "FILE_OR_DIR", description = "demonstrations: documents (see below)")
    List<Path> data = new ArrayList<>();

    @Option(names = "--text-field", paramLabel = "NAME", description = "read each document's text from this key (a.b for nested keys)")
    String textField;

    @Option(names = "--domain", description = "domain name stored in the statistics (default: the first data file's name)")
    String domain;

    int demos;

    @Spec
    CommandSpec commandSpec;

    /**
     * {@code --demos N}: the demonstration count, as in report and quickstart. Until the next release {@code --demos
     * FILE} (its old meaning) still names the data: a value that is not a non-negative integer is taken as a file.
     */
    @Option(names = "--demos", paramLabel = "N", description = "use at most N demonstrations (default 0 = all)")
    void demos(String value) {
        if (value.matches("-?\\d+")) { // a negative count is an error of the count, not a file name
            try {
                demos = new Ranges.NonNegative().convert(value);
            } catch (TypeConversionException e) {
                throw new ParameterException(commandSpec.commandLine(), "Invalid value for option '--demos': " + e.getMessage());
            }
        } else {
            commandSpec.commandLine().getErr().println("moeprune: warning: --demos FILE is now --data FILE");
            data.add(Path.of(value));
        }
    }

    @Option(names = "--max-demos", hidden = true, converter = Ranges.NonNegative.class, description = "old name of --demos N")
    void maxDemos(int n) {
        demos = n;
    }

    // Defaults of options with a hidden alias are field initialisers, not defaultValue: picocli applies a
    // defaultValue after parsing to every option not given, which would undo the value the alias set.
    @Option(names = "--demo-tokens", converter = Ranges.Positive.class, paramLabel = "T", description = "cut each demonstration to T tokens (default ${DEFAULT-VALUE})")
    int demoTokens = 2048;

    @Option(names = "--max-tokens-per-demo", hidden = true, converter = Ranges.Positive.class, description = "old name of --demo-tokens")
    void maxTokensPerDemo(int t) {
        demoTokens = t;
    }

    @Option(names = "--out", required = true, description = "statistics file to write")
    Path out;

    @Mixin
    RunOptions run = new RunOptions();

    @Mixin
    JsonOption json = new JsonOption();

    @Mixin
    OutputOption output = new OutputOption();

    @Override
    public Integer call() {
        try (DeviceOption.Session session = run.device.open()) {
            return run();
        }
    }

    private Integer run() {
        if (data.isEmpty()) throw new MoepruneException("missing required option '--data=FILE_OR_DIR' (the demonstrations)");
        run.threads.apply();
        run.memoryBudget.apply(out.toAbsolutePath().getParent());
        ModelSpec spec = ConfigReader.read(modelDir);
        if (spec.moeLayers().isEmpty()) throw MoepruneException.inFile(modelDir, "model has no MoE layers to calibrate");
        Tokenizer tokenizer = Tokenizers.load(modelDir);
        List<String> texts = Documents.read(data, DocumentForms.of(textField, tokenizer), demos);
        List<int[]> ids = new ArrayList<>();
        long total = 0;
        for (String t : texts) {
            int[] all = tokenizer.encode(t);
            int[] cut = Arrays.copyOf(all, Math.min(all.length, demoTokens));
            ids.add(cut);
            total += cut.length;
        }
        String name = domain != null ? domain : stripExtension(DocumentFiles.stem(data.getFirst()));
        String fingerprint;
        try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
            fingerprint = ModelFingerprint.of(spec, ckpt);
        }
        long t0 = System.nanoTime();
        ExpertStats stats;
        try (Model model = Model.load(modelDir, spec);
             ProgressBar bar = new ProgressBarBuilder().setTaskName("calibrate " + name).setInitialMax(total)
                     .setUnit(" tok", 1).setStyle(ProgressBarStyle.ASCII).showSpeed()
                     .setConsumer(ProgressBars.consumer(run.quiet.quiet)).build()) {
            // The bar counts tokens; its message says which layer the layer-major pass is at and what it has read.
            stats = new Calibrator(model).run(ids, texts, fingerprint, name, bar::stepBy,
                    p -> bar.setExtraMessage(" " + p.describe()));
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        StatsFile.write(stats, spec.family().modelType(), spec.moe().groups(), out);
        if (json.json || output.output != null) {
            ResultJson.emit(ResultJson.object("moeprune-calibrate").put("model", modelDir.toString())
                    .put("demos", data.size() == 1 ? data.getFirst().toString() : data.toString()).put("statistics", out.toString()).put("domain", name)
                    .put("fingerprint", fingerprint).put("documents", stats.numDemos())
                    .put("tokens", stats.totalTokens()).put("moe_layers", stats.numMoeLayers())
                    .put("experts", stats.numExperts()).put("top_k", stats.topK())
                    .put("tokens_per_second", stats.totalTokens() / secs).put("seconds", secs)
                    .put("device", PrefillPasses.device()),
                    json.json, output.output, System.out);
        }
        if (!json.json) System.out.printf(Locale.ROOT, "calibrated %s: %d demonstrations, %d tokens, %d MoE layers x %d experts, "
                        + "%.0f tokens/s on %s; wrote %s%n", name, stats.numDemos(), stats.totalTokens(), stats.numMoeLayers(),
                stats.numExperts(), stats.totalTokens() / secs, PrefillPasses.device(), out);
        return 0;
    }

    static String stripExtension(String file) {
        String s = file;
        for (String ext : List.of(".jsonl", ".dev", ".json", ".txt")) if (s.endsWith(ext)) s = s.substring(0, s.length() - ext.length());
        return s;
    }
}
