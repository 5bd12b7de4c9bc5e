package io.moeprune.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.runtime.PrefillPasses;

import java.nio.file.Path;

/** The --json form of an {@link EvalReport} (format "moeprune-eval", version 1; documented in docs/eval.md). */
public final class EvalJson {
    public static final String FORMAT = "moeprune-eval";
    public static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private EvalJson() {
    }

    /** The object --json prints and --output writes. */
    public static ObjectNode tree(EvalReport r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT).put("version", VERSION);
        o.put("model", r.model().toString());
        o.put("mask", path(r.mask()));
        o.put("threads", r.threads());
        o.put("kernels", r.kernels());
        o.put("device", PrefillPasses.device());
        ObjectNode w = o.putObject("weights");
        w.put("checkpoint_bytes", r.weights().checkpointBytes());
        w.put("used_bytes", r.weights().usedBytes());
        w.put("kept_bytes", r.weights().keptBytes());
        w.put("resident_bytes", r.residentBytes());
        if (r.text() != null) text(o.putObject("text"), r.text());
        if (r.choice() != null) choice(o.putObject("choice"), r.choice());
        if (r.generate() != null) generate(o.putObject("generate"), r.generate());
        if (r.speed() != null) {
            SpeedMeasurement.Result s = r.speed();
            o.putObject("speed").put("prompt_tokens", s.promptTokens()).put("decode_tokens", s.decodeTokens())
                    .put("prefill_tokens_per_second", s.prefillTokensPerSecond())
                    .put("decode_tokens_per_second", s.decodeTokensPerSecond());
        }
        return o;
    }

    private static void text(ObjectNode o, EvalReport.TextTask t) {
        TextEvaluation.Result r = t.result();
        o.put("file", t.file().toString()).put("max_tokens_per_doc", t.maxTokensPerDoc())
                .put("documents", r.documents()).put("tokens", r.tokens()).put("predicted_tokens", r.predicted())
                .put("loss", r.loss()).put("perplexity", r.perplexity()).put("accuracy", r.accuracy())
                .put("seconds", r.seconds());
    }

    private static void choice(ObjectNode o, EvalReport.ChoiceTask t) {
        ChoiceEvaluation.Result r = t.result();
        o.put("file", t.file().toString()).put("questions", r.items().size()).put("acc", r.acc())
                .put("acc_norm", r.accNorm()).put("acc_norm_bytes", r.accNormBytes()).put("seconds", r.seconds());
        ArrayNode items = o.putArray("items");
        for (ChoiceEvaluation.ItemResult i : r.items()) {
            ObjectNode n = items.addObject().put("line", i.line()).put("gold", i.gold()).put("predicted", i.predicted())
                    .put("predicted_norm", i.predictedNorm()).put("predicted_norm_bytes", i.predictedBytes());
            ArrayNode lp = n.putArray("log_probs"), tok = n.putArray("tokens");
            for (ChoiceEvaluation.ChoiceScore s : i.scores()) {
                lp.add(s.logProb());
                tok.add(s.tokens());
            }
        }
    }

    private static void generate(ObjectNode o, EvalReport.GenerateTask t) {
        GenerationEvaluation.Result r = t.result();
        o.put("file", t.file().toString()).put("questions", r.items().size()).put("exact_match", r.exactMatch())
                .put("chat", t.options().chat()).put("max_new_tokens", t.options().maxNewTokens())
                .put("generated_tokens", r.generatedTokens()).put("seconds", r.seconds());
        ArrayNode stops = o.putArray("stop");
        t.options().stops().forEach(stops::add);
        ArrayNode items = o.putArray("items");
        for (GenerationEvaluation.ItemResult i : r.items()) {
            items.addObject().put("line", i.line()).put("predicted", i.predicted()).put("reference", i.reference())
                    .put("correct", i.correct()).put("generated_tokens", i.generatedTokens()).put("output", i.output());
        }
    }

    private static String path(Path p) {
        return p == null ? null : p.toString();
    }
}
