package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.patterns.ConfusionMatrix;
import io.moeprune.patterns.LabelledPrompt;
import io.moeprune.patterns.PatternMatcher;
import io.moeprune.patterns.PatternStore;
import io.moeprune.patterns.SignatureKind;
import io.moeprune.patterns.SignatureReader;
import io.moeprune.patterns.TaskPattern;
import io.moeprune.runtime.Model;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code moeprune patterns match}: ranks the stored patterns for each prompt. */
@Command(name = "match", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Ranks the stored patterns for each prompt by signature distance (nearest first). With labelled "
                + "prompts ({\"text\": ..., \"label\": ...}) prints a confusion matrix and the accuracy."},
        footer = {"", "Examples:", "  moeprune patterns match patterns/ --prompt 'def fib(n):'",
                "  moeprune patterns match patterns/ --prompts held-out.jsonl --json"})
final class PatternsMatchCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "STORE", description = "pattern store directory (`patterns build`)")
    Path storeDir;

    @Option(names = "--prompt", description = "one prompt")
    String prompt;

    @Option(names = "--prompts", paramLabel = "FILE.jsonl",
            description = "prompts, one {\"text\" or \"prompt\": ..., optional \"label\" or \"task\": ...} per line")
    Path prompts;

    @Option(names = "--model", description = "model directory (default: the one the store was built from)")
    Path model;

    @Option(names = "--signature", description = "signature kind to rank by (default: the store's)")
    String signature;

    @Option(names = "--max-tokens-per-prompt", defaultValue = "0", description = "read only a prompt's first T tokens (0 = all)")
    int maxTokens;

    @Option(names = "--top", defaultValue = "3", description = "patterns listed per prompt in text output (default ${DEFAULT-VALUE})")
    int top;

    @Option(names = "--json", description = "print one JSON object (format moeprune-patterns-match): every prompt's full ranking")
    boolean json;

    @Mixin
    ThreadsOption threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if ((prompt == null) == (prompts == null)) throw new MoepruneException("give exactly one of --prompt TEXT or --prompts FILE.jsonl");
        if (maxTokens < 0) throw new MoepruneException("--max-tokens-per-prompt must be 0 or more, not " + maxTokens);
        PatternStore store = PatternStore.open(storeDir);
        List<TaskPattern> patterns = store.readAll();
        if (patterns.isEmpty()) throw MoepruneException.inFile(storeDir, "holds no patterns (add some with `patterns build`)");
        SignatureKind kind = signature == null ? store.info().defaultKind() : SignatureKind.parse(signature);
        List<LabelledPrompt> items = prompt != null ? List.of(new LabelledPrompt(prompt, null)) : LabelledPrompt.read(prompts);
        Path modelDir = model != null ? model : Path.of(store.info().modelPath());
        ModelSpec modelSpec = ConfigReader.read(modelDir);
        try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
            store.requireModel(ModelFingerprint.of(modelSpec, ckpt), modelDir);
        }
        Tokenizer tokenizer = Tokenizers.load(modelDir);
        List<List<PatternMatcher.Match>> rankings = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        long t0 = System.nanoTime();
        try (Model m = Model.load(modelDir, modelSpec)) {
            SignatureReader reader = new SignatureReader(m, store.info().depth(), Set.of(kind));
            for (int i = 0; i < items.size(); i++) {
                int[] ids = tokenizer.encode(items.get(i).text());
                if (maxTokens > 0 && ids.length > maxTokens) ids = Arrays.copyOf(ids, maxTokens);
                if (ids.length == 0) {
                    throw new MoepruneException((prompts == null ? "--prompt" : prompts + ":" + (i + 1)) + ": prompt is empty");
                }
                tokens.add(ids.length);
                rankings.add(PatternMatcher.rank(patterns, reader.read(List.of(ids)), kind));
            }
        }
        double msPerPrompt = (System.nanoTime() - t0) / 1e6 / items.size();
        ConfusionMatrix confusion = new ConfusionMatrix();
        for (int i = 0; i < items.size(); i++) {
            if (items.get(i).label() != null) confusion.add(items.get(i).label(), rankings.get(i).getFirst().task());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) ResultJson.emit(json(kind, items, tokens, rankings, confusion, msPerPrompt), true, null, out);
        else printText(out, kind, items, rankings, confusion, msPerPrompt);
        out.flush();
        return 0;
    }

    private void printText(PrintWriter out, SignatureKind kind, List<LabelledPrompt> items,
                           List<List<PatternMatcher.Match>> rankings, ConfusionMatrix confusion, double ms) {
        for (int i = 0; i < items.size(); i++) {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "prompt %d", i + 1));
            if (items.get(i).label() != null) sb.append(" [").append(items.get(i).label()).append(']');
            sb.append(':');
            for (PatternMatcher.Match m : rankings.get(i).subList(0, Math.min(top, rankings.get(i).size()))) {
                sb.append(String.format(Locale.ROOT, "  %s %.6g", m.task(), m.distance()));
            }
            out.println(sb);
        }
        if (confusion.total() > 0) {
            out.println();
            out.print(confusion.markdown());
        }
        out.printf(Locale.ROOT, "signature %s (%s), %.1f ms per prompt%n", kind.cliName(), kind.distance().cliName(), ms);
    }

    private ObjectNode json(SignatureKind kind, List<LabelledPrompt> items, List<Integer> tokens,
                            List<List<PatternMatcher.Match>> rankings, ConfusionMatrix confusion, double ms) {
        ObjectNode o = ResultJson.object("moeprune-patterns-match");
        o.put("store", storeDir.toString()).put("signature", kind.cliName()).put("distance", kind.distance().cliName())
                .put("ms_per_prompt", ms);
        ArrayNode ps = o.putArray("prompts");
        for (int i = 0; i < items.size(); i++) {
            ObjectNode p = ps.addObject();
            p.put("index", i).put("label", items.get(i).label()).put("tokens", tokens.get(i))
                    .put("match", rankings.get(i).getFirst().task());
            ArrayNode r = p.putArray("ranking");
            rankings.get(i).forEach(m -> r.addObject().put("task", m.task()).put("distance", m.distance()));
        }
        if (confusion.total() > 0) {
            o.put("accuracy", confusion.accuracy()).put("correct", confusion.correct()).put("labelled", confusion.total());
            ObjectNode c = o.putObject("confusion");
            for (String label : confusion.labels()) {
                ObjectNode row = c.putObject(label);
                for (String col : confusion.columns()) if (confusion.count(label, col) > 0) row.put(col, confusion.count(label, col));
            }
        }
        return o;
    }
}
