package io.moeprune.report;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.io.JsonFiles;
import io.moeprune.select.Method;

import java.util.Map;

/**
 * A report's numbers as one JSON object (format "moeprune-report", version 1): what {@code results.json} beside
 * report.html holds and what {@code report --json} / {@code quickstart --json} print. Documented in README.md,
 * "Machine-readable output". Losses are in nats; speeds in tokens/s as median, min and max of the runs.
 */
public final class ReportJson {
    public static final String FORMAT = "moeprune-report";
    public static final int VERSION = 1;

    private ReportJson() {
    }

    public static ObjectNode of(Report rep) {
        StudyResult r = rep.study();
        ReportConfig c = rep.config();
        ObjectNode o = JsonFiles.mapper().createObjectNode().put("format", FORMAT).put("version", VERSION);
        o.put("model", c.model().toString()).put("model_name", rep.modelName()).put("family", rep.family())
                .put("layers", rep.layers()).put("moe_layers", rep.moeLayers()).put("experts", r.numExperts())
                .put("top_k", rep.topK()).put("created", rep.created().toString()).put("seconds", rep.seconds())
                .put("threads", rep.threads()).put("machine", rep.machine()).put("command_line", c.commandLine());
        o.putObject("settings").put("demos", c.demos()).put("demo_tokens", c.maxDemoTokens())
                .put("eval_docs", c.evalDocs()).put("eval_tokens", c.evalTokens()).put("prune_domain", c.pruneDomain())
                .put("prompt_tokens", c.promptTokens()).put("decode_steps", c.decodeSteps()).put("runs", c.runs())
                .put("seed", c.seed());
        r.methods().forEach(m -> o.withArray("methods").add(m.cliName()));
        r.keeps().forEach(o.putArray("keeps")::add);
        ImplausibleLoss.warnings(r).forEach(o.putArray("warnings")::add);
        ObjectNode domains = o.putObject("domains");
        for (String d : r.domains()) {
            ObjectNode dn = domains.putObject(d).put("file", c.domains().get(d).toString())
                    .put("demo_tokens", r.demoTokens().get(d)).put("eval_tokens", r.evalTokens().get(d));
            quality(dn.putObject("full"), r.full().get(d));
            ObjectNode in = dn.putObject("in_domain");
            for (Map.Entry<Method, Map<Integer, Quality>> m : r.inDomain().get(d).entrySet()) {
                byKeep(in.putObject(m.getKey().cliName()), m.getValue());
            }
            ObjectNode out = dn.putObject("out_of_domain");   // this domain's mask evaluated on every domain
            for (Map.Entry<String, Map<Integer, Quality>> e : r.outOfDomain().get(d).entrySet()) {
                byKeep(out.putObject(e.getKey()), e.getValue());
            }
        }
        o.put("out_of_domain_method", r.oodMethod().cliName());
        ModelMeasurement full = rep.models().getFirst();
        for (ModelMeasurement m : rep.models()) {
            ObjectNode mn = o.withArray("checkpoints").addObject().put("label", m.label())
                    .put("directory", m.dir().toString()).put("pruned", m.pruned()).put("experts", m.experts())
                    .put("parameters", m.parameters()).put("disk_bytes", m.diskBytes())
                    .put("weight_bytes", m.weightBytes()).put("active_bytes_per_token", m.activeBytes());
            Throughput t = m.throughput();
            ObjectNode speed = mn.putObject("speed").put("prompt_tokens", t.promptTokens())
                    .put("decode_steps", t.decodeSteps()).put("runs", t.runs());
            spread(speed.putObject("prefill_tokens_per_second"), t.prefill());
            spread(speed.putObject("decode_tokens_per_second"), t.decode());
            quality(mn.putObject("loss"), m.loss());
            if (m.pruned()) {
                quality(mn.putObject("masked_loss"), m.maskedLoss());
                mn.put("loss_relative_difference", m.lossMismatch())
                        .put("exact", m.lossMismatch() <= ReportRun.EXACT_TOLERANCE)
                        .put("prune_seconds", m.pruneSeconds()).put("decode_claim", SpeedClaim.decode(m, full));
            }
        }
        o.putObject("exactness").put("pruning_exact", rep.pruningExact()).put("tolerance", ReportRun.EXACT_TOLERANCE);
        return o;
    }

    private static void byKeep(ObjectNode o, Map<Integer, Quality> byKeep) {
        byKeep.forEach((keep, q) -> quality(o.putObject(Integer.toString(keep)), q));
    }

    private static void quality(ObjectNode o, Quality q) {
        o.put("loss", q.loss()).put("perplexity", q.perplexity()).put("accuracy", q.accuracy())
                .put("predicted_tokens", q.predicted());
    }

    private static void spread(ObjectNode o, Spread s) {
        o.put("median", s.median()).put("min", s.min()).put("max", s.max());
    }
}
