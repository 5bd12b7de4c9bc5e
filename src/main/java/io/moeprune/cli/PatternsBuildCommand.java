package io.moeprune.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.io.JsonFiles;
import io.moeprune.io.DocumentForms;
import io.moeprune.io.Documents;
import io.moeprune.MoepruneException;
import io.moeprune.calibrate.ModelFingerprint;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.patterns.PatternBuilder;
import io.moeprune.patterns.PatternStore;
import io.moeprune.patterns.SignatureKind;
import io.moeprune.patterns.StoreInfo;
import io.moeprune.runtime.Model;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.select.Method;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code moeprune patterns build}: calibrates each task, selects its experts and stores the pattern. */
@Command(name = "build", sortOptions = false, mixinStandardHelpOptions = true,
        description = {"Calibrates the model on each task's demonstrations, keeps its best experts per MoE layer and "
                + "stores them (a native mask, usable as --mask) with the task's query signatures.",
                "On an existing store the given tasks are added; the stored ones are not rebuilt."},
        footer = {"", "Example:",
                "  moeprune patterns build MODEL --task math=math.jsonl --task java=java.jsonl --demos 8 \\",
                "      --keep 16 --out patterns/"})
final class PatternsBuildCommand implements Callable<Integer> {
    /** The signature kind and depth of new stores: the best of the retrieval check (docs/patterns.md). */
    static final SignatureKind DEFAULT_KIND = SignatureKind.HIDDEN;
    static final int DEFAULT_DEPTH = 2;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face model directory")
    Path modelDir;

    @Option(names = "--task", required = true, paramLabel = "NAME=DEMOS.jsonl",
            description = "a task and its demonstrations (repeat for several)")
    List<String> tasks;

    @Option(names = "--keep", description = "experts to keep per MoE layer")
    Integer keep;

    @Option(names = "--keep-ratio", description = "fraction of the experts to keep, e.g. 0.5")
    Double keepRatio;

    @Option(names = "--method", defaultValue = "easyep", description = "selection method (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--out", required = true, paramLabel = "STORE", description = "pattern store directory")
    Path out;

    @Option(names = "--signature", description = "default signature kind of a new store: premoe, router-probs, hidden")
    String signature;

    @Option(names = "--signature-layers", description = "MoE layers router-probs and hidden read (new store; default "
            + DEFAULT_DEPTH + ")")
    Integer signatureLayers;

    // Defaults of options with a hidden alias are field initialisers, not defaultValue: picocli applies a
    // defaultValue after parsing to every option not given, which would undo the value the alias set.
    @Option(names = "--demos", converter = Ranges.NonNegative.class, paramLabel = "N",
            description = "use at most N demonstrations per task (default 0 = all)")
    int demos = 0;

    @Option(names = "--max-demos", hidden = true, converter = Ranges.NonNegative.class, description = "old name of --demos")
    void maxDemos(int n) {
        demos = n;
    }

    @Option(names = "--demo-tokens", converter = Ranges.Positive.class, paramLabel = "T",
            description = "cut each demonstration to T tokens (default ${DEFAULT-VALUE})")
    int demoTokens = 2048;

    @Option(names = "--max-tokens-per-demo", hidden = true, converter = Ranges.Positive.class, description = "old name of --demo-tokens")
    void maxTokensPerDemo(int t) {
        demoTokens = t;
    }

    @Option(names = "--force", description = "replace stored tasks of the same names")
    boolean force;

    @Mixin
    ThreadsOption threads;

    @Option(names = "--text-field", paramLabel = "NAME", description = "read each demonstration's text from this key (a.b for nested keys; docs/formats.md, \"Document inputs\")")
    String textField;

    @picocli.CommandLine.Mixin
    QuietOption quiet = new QuietOption();

    @picocli.CommandLine.Mixin
    JsonOption json = new JsonOption();

    @Override
    public Integer call() {
        threads.apply();
        Map<String, Path> demoFiles = parseTasks();
        ModelSpec spec = ConfigReader.read(modelDir);
        if (spec.moeLayers().isEmpty()) throw MoepruneException.inFile(modelDir, "model has no MoE layers");
        int experts = spec.moe().numExperts(), k = SelectCommand.keepCount(keep, keepRatio, experts);
        if (k < spec.moe().topK() || k > experts) {
            throw new MoepruneException("cannot keep " + k + " experts per layer: the model has " + experts
                    + " and routes each token to " + spec.moe().topK());
        }
        Method m = Method.parse(method);
        String fingerprint;
        try (Checkpoint ckpt = Checkpoint.open(modelDir)) {
            fingerprint = ModelFingerprint.of(spec, ckpt);
        }
        PatternStore existing = PatternStore.exists(out) ? openExisting(fingerprint) : null;
        SignatureKind kind = signature == null ? DEFAULT_KIND : SignatureKind.parse(signature);
        int depth = signatureLayers == null ? DEFAULT_DEPTH : signatureLayers;
        if (existing == null && (depth < 1 || depth > spec.moeLayers().size())) {
            throw new MoepruneException("--signature-layers must be 1.." + spec.moeLayers().size() + ", not " + depth);
        }
        for (String name : demoFiles.keySet()) {
            if (existing != null && existing.has(name) && !force) {
                throw MoepruneException.inFile(existing.taskDir(name), "already exists; pass --force to replace it");
            }
        }
        // Read every task's demonstrations before the first calibration, so a bad file fails at once.
        Tokenizer tokenizer = Tokenizers.load(modelDir);
        Map<String, List<String>> texts = new LinkedHashMap<>();
        Map<String, List<int[]>> ids = new LinkedHashMap<>();
        for (var e : demoFiles.entrySet()) {
            List<String> t = Documents.read(List.of(e.getValue()), DocumentForms.of(textField, tokenizer), demos);
            texts.put(e.getKey(), t);
            ids.put(e.getKey(), t.stream().map(s -> cut(tokenizer.encode(s))).toList());
        }
        PatternStore store = existing != null ? existing : PatternStore.create(out, new StoreInfo(
                modelDir.toAbsolutePath().normalize().toString(), fingerprint, spec.family().modelType(),
                spec.moe().numExperts(), spec.moe().topK(), spec.moeLayers(), kind, depth));
        ArrayNode builtTasks = JsonFiles.mapper().createArrayNode();   // one entry per task, for --json
        try (Model model = Model.load(modelDir, spec)) {
            PatternBuilder builder = new PatternBuilder(model, store.info());
            for (String name : demoFiles.keySet()) {
                long total = ids.get(name).stream().mapToLong(a -> a.length).sum();
                PatternBuilder.Built built;
                try (ProgressBar bar = new ProgressBarBuilder().setTaskName("pattern " + name).setInitialMax(total)
                        .setUnit(" tok", 1).setStyle(ProgressBarStyle.ASCII).showSpeed()
                        .setConsumer(ProgressBars.consumer(quiet.quiet)).build()) {
                    built = builder.build(name, ids.get(name), texts.get(name), m, k, bar::stepBy);
                }
                store.write(built.pattern(), built.stats(), force);
                builtTasks.addObject().put("task", name).put("documents", built.stats().numDemos())
                        .put("tokens", built.stats().totalTokens()).put("directory", store.taskDir(name).toString());
                if (!json.json) System.out.printf(Locale.ROOT, "%s: %d demonstrations, %d tokens, %s keeps %d of %d experts per layer; "
                                + "wrote %s%n", name, built.stats().numDemos(), built.stats().totalTokens(), m.cliName(), k,
                        experts, store.taskDir(name));
            }
        }
        if (json.json) {
            ObjectNode o = ResultJson.object("moeprune-patterns-build").put("store", out.toString())
                    .put("model", modelDir.toString()).put("method", m.cliName()).put("keep", k).put("experts", experts)
                    .put("signature", store.info().defaultKind().cliName()).put("signature_layers", store.info().depth());
            o.set("built", builtTasks);
            store.taskNames().forEach(o.putArray("patterns")::add);
            ResultJson.emit(o, true, null, System.out);
        } else {
            System.out.printf(Locale.ROOT, "%s: %d patterns (signature %s over %d MoE layers)%n", out,
                    store.taskNames().size(), store.info().defaultKind().cliName(), store.info().depth());
        }
        return 0;
    }

    private Map<String, Path> parseTasks() {
        Map<String, Path> m = new LinkedHashMap<>();
        for (String t : tasks) {
            int eq = t.indexOf('=');
            if (eq <= 0 || eq == t.length() - 1) throw new MoepruneException("--task must be NAME=DEMOS.jsonl, not '" + t + "'");
            String name = t.substring(0, eq);
            PatternStore.checkName(name);
            if (m.put(name, Path.of(t.substring(eq + 1))) != null) throw new MoepruneException("--task " + name + " is given twice");
        }
        return m;
    }

    /** The store at --out, which must hold patterns of this model and agree with any signature options given. */
    private PatternStore openExisting(String fingerprint) {
        PatternStore store = PatternStore.open(out);
        StoreInfo info = store.info();
        if (!info.fingerprint().equals(fingerprint)) {
            throw MoepruneException.inFile(out, "store holds patterns of another model (fingerprint " + info.fingerprint()
                    + ", " + modelDir + " has " + fingerprint + ")");
        }
        if (signatureLayers != null && signatureLayers != info.depth()) {
            throw MoepruneException.inFile(out, "store's signatures read " + info.depth() + " MoE layers; "
                    + "--signature-layers " + signatureLayers + " would make its tasks incomparable");
        }
        if (signature != null && SignatureKind.parse(signature) != info.defaultKind()) {
            throw MoepruneException.inFile(out, "store's default signature is " + info.defaultKind().cliName()
                    + "; every task stores every kind, so choose one at match time with --signature");
        }
        return store;
    }

    private int[] cut(int[] all) {
        return Arrays.copyOf(all, Math.min(all.length, demoTokens));
    }
}
