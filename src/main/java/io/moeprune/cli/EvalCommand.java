package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.eval.ChoiceEvaluation;
import io.moeprune.eval.ChoiceItem;
import io.moeprune.eval.EvalJson;
import io.moeprune.eval.EvalReport;
import io.moeprune.eval.EvalTable;
import io.moeprune.eval.GenerateItem;
import io.moeprune.eval.GenerationEvaluation;
import io.moeprune.eval.MaskLoader;
import io.moeprune.eval.SpeedMeasurement;
import io.moeprune.eval.TextEvaluation;
import io.moeprune.eval.WeightMemory;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * {@code moeprune eval MODEL [--mask MASK.json] [--text F] [--choice F] [--generate F] [--speed]}: the quality,
 * speed and weight memory of a model, or of the model routed as its pruned version would be (mask mode). Several
 * tasks run in one go; the weights' memory is always reported. The logic is in {@code io.moeprune.eval}.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate a model (optionally in mask mode): loss/perplexity/next-token accuracy on text, "
                + "multiple-choice accuracy by log-likelihood, exact match of greedy generations, prefill/decode "
                + "speed, and the memory its weights occupy (with a mask: also what the pruned checkpoint would hold)."})
public final class EvalCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "model directory (config.json, safetensors, tokenizer.json)")
    Path modelDir;

    @Option(names = "--mask", paramLabel = "MASK.json", description = "expert mask from `moeprune select` (checked against the model) or {\"layers\": {...}}")
    Path mask;

    @Option(names = "--text", paramLabel = "FILE_OR_DIR", description = "documents (.jsonl, .jsonl.gz, .parquet or a directory; see \"Document inputs\" in docs/formats.md): loss, perplexity, next-token accuracy")
    Path text;

    @Option(names = "--text-field", paramLabel = "NAME", description = "text task: read each document's text from this key (a.b for nested keys)")
    String textField;

    @Option(names = "--max-tokens-per-doc", converter = Ranges.Positive.class, defaultValue = "512", description = "text task: tokens per document (default ${DEFAULT-VALUE})")
    int maxPerDoc;

    @Option(names = "--max-tokens", converter = Ranges.Positive.class, description = "text task: stop after this many tokens in total")
    Integer maxTokens;

    @Option(names = "--choice", paramLabel = "FILE.jsonl", description = "questions {\"query\", \"choices\": [...], \"gold\": i}: accuracy by log-likelihood")
    Path choice;

    @Option(names = "--generate", paramLabel = "FILE.jsonl", description = "questions {\"question\" or \"prompt\", \"answer\"}: exact match of the final answer of greedy generations")
    Path generate;

    @Option(names = "--chat", description = "generate task: render each question as a user message with the chat template")
    boolean chat;

    @Option(names = "--max-new-tokens", converter = Ranges.Positive.class, defaultValue = "256", description = "generate task: most tokens per answer (default ${DEFAULT-VALUE})")
    int maxNewTokens;

    @Option(names = "--stop", paramLabel = "TEXT", description = "generate task: stop (and cut the output) at this text; repeatable, e.g. --stop 'Question:'")
    List<String> stops = new ArrayList<>();

    @Option(names = "--limit", converter = Ranges.Positive.class, description = "choice and generate tasks: use only the first N questions")
    Integer limit;

    @Option(names = "--speed", description = "measure prefill and decode tokens/s (after a warm-up)")
    boolean speed;

    @Option(names = "--prompt-tokens", converter = Ranges.Positive.class, defaultValue = "128", description = "speed: prompt length (default ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--decode-tokens", converter = Ranges.Positive.class, defaultValue = "32", description = "speed: tokens decoded (default ${DEFAULT-VALUE})")
    int decodeTokens;

    @Mixin
    RunOptions run = new RunOptions();

    @Option(names = "--json", description = "print one JSON object (format moeprune-eval, docs/eval.md) instead of the table")
    boolean json;

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
        run.memoryBudget.apply(null);
        // Read every input before loading the model, so bad files fail fast.
        Tokenizer tok = text != null || choice != null || generate != null ? Tokenizers.load(modelDir) : null;
        List<String> texts = text == null ? null : Documents.read(text, DocumentForms.of(textField, tok));
        List<ChoiceItem> choices = choice == null ? null : limited(ChoiceItem.read(choice));
        List<GenerateItem> questions = generate == null ? null : limited(GenerateItem.read(generate));
        List<int[]> docs = texts == null ? null : TextEvaluation.tokenize(texts, tok, maxPerDoc, maxTokens);

        try (Checkpoint checkpoint = Checkpoint.open(modelDir); Model model = Models.open(modelDir)) {
            ModelSpec ms = model.spec();
            ExpertMask m = mask == null ? ExpertMask.NONE : MaskLoader.load(mask, ms, checkpoint);
            WeightMemory weights = WeightMemory.of(ms, checkpoint, m);
            EvalReport.TextTask textTask = null;
            EvalReport.ChoiceTask choiceTask = null;
            EvalReport.GenerateTask generateTask = null;
            SpeedMeasurement.Result speedResult = null;
            if (docs != null) {
                long total = docs.stream().mapToLong(d -> d.length).sum();
                TextEvaluation.Result r = withBar("text", total, " tok",
                        bar -> TextEvaluation.run(model, m, docs, text, bar::stepBy,
                                p -> bar.setExtraMessage(" " + p.describe())));
                textTask = new EvalReport.TextTask(text, maxPerDoc, r);
            }
            if (choices != null) {
                ChoiceEvaluation.Result r = withBar("choice", choices.size(), " q",
                        bar -> ChoiceEvaluation.run(model, m, tok, choices, choice, bar::stepBy,
                                p -> bar.setExtraMessage(" " + p.describe())));
                choiceTask = new EvalReport.ChoiceTask(choice, r);
            }
            if (questions != null) {
                var options = new GenerationEvaluation.Options(chat, maxNewTokens, List.copyOf(stops));
                GenerationEvaluation.Result r = withBar("generate", questions.size(), " q",
                        bar -> GenerationEvaluation.run(model, m, tok, questions, options, generate, bar::stepBy));
                generateTask = new EvalReport.GenerateTask(generate, options, r);
            }
            if (speed) speedResult = SpeedMeasurement.run(model, m, promptTokens, decodeTokens);
            var rss = WeightMemory.residentBytes();
            EvalReport report = new EvalReport(modelDir, mask, Parallel.threads(), Kernels.get().description(), weights,
                    rss.isPresent() ? rss.getAsLong() : null, textTask, choiceTask, generateTask, speedResult);
            PrintWriter out = spec.commandLine().getOut();
            ResultJson.emit(EvalJson.tree(report), json, output.output, out);
            if (!json) {
                out.print(EvalTable.render(report));
                out.flush();
            }
        }
        return 0;
    }

    private <T> List<T> limited(List<T> items) {
        return limit == null || items.size() <= limit ? items : items.subList(0, limit);
    }

    private <R> R withBar(String task, long max, String unit, Function<ProgressBar, R> work) {
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(max).setUnit(unit, 1)
                .setStyle(ProgressBarStyle.ASCII).continuousUpdate().setConsumer(ProgressBars.consumer(run.quiet.quiet)).build()) {
            return work.apply(bar);
        }
    }
}
