package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.eval.MaskLoader;
import io.moeprune.eval.TextEvaluation;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;
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
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code moeprune perplexity MODEL --data FILE_OR_DIR}: next-token loss, perplexity and accuracy on documents,
 * with the protocol of conformance/reference_perplexity.py (each document's text tokenised without special tokens,
 * cut to the first --max-tokens-per-doc tokens, every token after the first predicted).
 */
@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = {"Measure a model's next-token loss, perplexity and accuracy on documents (JSONL or "
                + "Parquet files; see \"Document inputs\" in docs/formats.md), optionally with an expert mask (routing as the "
                + "pruned model would)."})
public final class PerplexityCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", converter = ModelDirConverter.class, description = "model directory (config.json, safetensors, tokenizer.json)")
    Path modelDir;

    @Option(names = "--data", required = true, paramLabel = "FILE_OR_DIR", description = "documents: .jsonl, .jsonl.gz or .parquet files or a directory of them (see \"Document inputs\" in docs/formats.md)")
    Path data;

    @Option(names = "--text-field", paramLabel = "NAME", description = "read each document's text from this key (a.b for nested keys)")
    String textField;

    @Option(names = "--mask", paramLabel = "MASK.json", description = "expert mask: a `moeprune select` mask file (checked against the model) or {\"layers\": {\"<layer>\": [kept ids]}}")
    Path mask;

    @Option(names = "--max-tokens", converter = Ranges.Positive.class, description = "stop after this many tokens in total (the last document is cut)")
    Integer maxTokens;

    @Option(names = "--max-tokens-per-doc", converter = Ranges.Positive.class, defaultValue = "512", description = "tokens per document (default ${DEFAULT-VALUE})")
    int maxPerDoc;

    @Mixin
    RunOptions run = new RunOptions();

    @Option(names = "--json", description = "print one JSON object (format moeprune-perplexity) instead of text")
    boolean json;

    @Mixin
    OutputOption output = new OutputOption();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (DeviceOption.Session session = run.device.open()) {
            return run();
        }
    }

    private Integer run() throws Exception {
        run.threads.apply();
        run.memoryBudget.apply(null);
        Tokenizer tok = Tokenizers.load(modelDir);
        List<int[]> docs = TextEvaluation.tokenize(Documents.read(data, DocumentForms.of(textField, tok)), tok, maxPerDoc, maxTokens);
        long total = docs.stream().mapToLong(d -> d.length).sum();
        try (Model model = Models.open(modelDir)) {
            ExpertMask m = mask == null ? ExpertMask.NONE : MaskLoader.load(mask, modelDir, model.spec());
            TextEvaluation.Result r;
            try (ProgressBar bar = new ProgressBarBuilder().setTaskName("perplexity").setInitialMax(total)
                    .setUnit(" tok", 1).setStyle(ProgressBarStyle.ASCII).continuousUpdate()
                    .setConsumer(ProgressBars.consumer(run.quiet.quiet)).build()) {
                r = TextEvaluation.run(model, m, docs, data, bar::stepBy, p -> bar.setExtraMessage(" " + p.describe()));
            }
            double loss = r.loss(), seconds = r.seconds();
            long predicted = r.predicted(), hits = r.hits();
            PrintWriter out = spec.commandLine().getOut();
            if (json || output.output != null) {
                ObjectNode o = ResultJson.object("moeprune-perplexity");
                o.put("model", modelDir.toString());
                o.put("data", data.toString());
                o.put("mask", mask == null ? null : mask.toString());
                o.put("documents", docs.size());
                o.put("tokens", total);
                o.put("predicted_tokens", predicted);
                o.put("loss", loss);
                o.put("perplexity", Math.exp(loss));
                o.put("accuracy", (double) hits / predicted);
                o.put("tokens_per_second", total / seconds);
                o.put("threads", Parallel.threads());
                o.put("kernels", Kernels.get().description());
                o.put("device", PrefillPasses.device());
                o.put("seconds", seconds);
                ResultJson.emit(o, json, output.output, out);
            }
            if (!json) {
                out.printf("documents %d, tokens %d (%d predicted)%n", docs.size(), total, predicted);
                out.printf("loss %.4f  perplexity %.3f  accuracy %.4f%n", loss, Math.exp(loss), (double) hits / predicted);
                out.printf("%.1f tokens/s (%.1f s; %d threads, %s kernels, on %s)%n", total / seconds, seconds,
                        Parallel.threads(), Kernels.get().description(), PrefillPasses.device());
            }
            out.flush();
        }
        return 0;
    }
}
