package io.moeprune.inspect;

import io.moeprune.model.ExpectedTensor;
import io.moeprune.model.ModelSpec;
import io.moeprune.model.MoeSpec;
import io.moeprune.model.TensorCategory;
import io.moeprune.provenance.ModelCard;
import io.moeprune.provenance.Provenance;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static io.moeprune.inspect.Describe.*;

/** The human-readable report of {@code moeprune inspect}: key/value lines and two tables. */
public final class InspectionText {
    /** At most this many names are listed per tensor-check finding; the rest are counted. */
    static final int LIST_LIMIT = 20;

    private final StringBuilder out = new StringBuilder();

    private InspectionText() {
    }

    public static String render(Inspection in) {
        InspectionText t = new InspectionText();
        t.write(in);
        return t.out.toString();
    }

    private void write(Inspection in) {
        ModelSpec s = in.spec();
        MoeSpec m = s.moe();
        ParameterAccounting a = in.accounting();
        kv("Model", in.dir().toString());
        if (in.provenance() != null) provenance(in.provenance());
        kv("Architecture", s.architecture() + " (" + s.family().modelType() + ")");
        kv("Layers", s.numLayers() + ": " + s.moeLayers().size() + " MoE" + layerList(s.moeLayers()) + ", "
                + denseLayers(s).size() + " dense" + layerList(denseLayers(s))
                + (s.mtpLayers() > 0 ? ", + " + s.mtpLayers() + " multi-token-prediction (unused)" : ""));
        kv("Hidden size", s.hiddenSize() + ", vocabulary " + s.vocabSize()
                + (s.tieWordEmbeddings() ? ", tied embeddings" : ", separate LM head"));
        if (s.denseIntermediateSize() > 0) kv("Dense MLP", "intermediate " + s.denseIntermediateSize());
        kv("Attention", attention(s));
        if (!slidingLayers(s).isEmpty()) kv("Sliding layers", ranges(slidingLayers(s)));
        kv("RoPE", rope(s.rope()));
        if (s.scaling() != ModelSpec.Scaling.NONE) {
            kv("Multipliers", "embedding " + number(s.scaling().embedding()) + ", residual " + number(s.scaling().residual())
                    + ", logits / " + number(s.scaling().logitsDivisor()));
        }
        kv("Experts", m.numExperts() + " routed per MoE layer, top-" + m.topK() + ", intermediate "
                + m.expertIntermediateSize() + " (config key " + s.expertCountKey() + ")");
        kv("Routing", routing(m));
        kv("Shared experts", shared(m));
        kv("Expert weights", layout(m) + ", " + activation(m.activation()));
        kv("Quantization", quantization(s.quantization()));
        out.append('\n');

        kv("Parameters", count(a.total()));
        kv("Active/token", count(a.activePerToken()) + " (" + percent(a.activePerToken(), a.total()) + ")");
        kv("Routed experts", count(a.routedExperts()) + " (" + percent(a.routedExperts(), a.total()) + "), "
                + count(a.perExpert()) + " per expert");
        kv("Tensor bytes", count(a.totalBytes()) + " (" + bytes(a.totalBytes()) + ")");
        out.append('\n');

        row("Category", "Parameters", "Bytes", "Share of bytes");
        for (TensorCategory c : TensorCategory.values()) {
            long p = a.parameters().get(c), b = a.bytes().get(c);
            if (p == 0 && b == 0) continue;
            row(c.label(), count(p), bytes(b), percent(b, a.totalBytes()));
        }
        row("total", count(a.total()), bytes(a.totalBytes()), percent(a.totalBytes(), a.totalBytes()));
        out.append('\n');

        if (!a.projections().isEmpty()) {
            out.append("Projected size when K of ").append(m.numExperts()).append(" routed experts are kept in every MoE layer:\n");
            row("Kept", "K", "Parameters", "Bytes");
            for (ParameterAccounting.Projection p : a.projections()) {
                row(p.percent() + " %", Integer.toString(p.keptExperts()), count(p.parameters()), bytes(p.bytes()));
            }
            row("100 %", Integer.toString(m.numExperts()), count(a.total()), bytes(a.totalBytes()));
            out.append('\n');
        }
        check(in.check());
    }

    /** How the checkpoint was pruned (its moeprune.json): from what, with what, which original experts it holds. */
    private void provenance(Provenance p) {
        Provenance.Step last = p.last();
        kv("Pruned from", last.source().path() + " (" + last.source().fingerprint() + ", " + last.source().numExperts()
                + " experts) by " + p.tool() + ", " + p.created());
        if (p.steps().size() > 1) {
            kv("Original", p.original().path() + " (" + p.original().fingerprint() + ", " + p.original().numExperts()
                    + " experts), " + p.steps().size() + " pruning steps");
        }
        kv("Selection", last.method() + ", budget " + last.budget() + ", strategy " + last.strategy());
        kv("Domains", ModelCard.domains(last.domains()));
        kv("Kept experts", p.keptPerLayer() + " of " + p.original().numExperts()
                + " per MoE layer; original ids in the new order:");
        for (int i = 0; i < p.kept().length; i++) {
            out.append(String.format(Locale.ROOT, "  layer %3d: %s%n", p.original().moeLayers().get(i), Arrays.toString(p.kept()[i])));
        }
    }

    private static String layerList(List<Integer> layers) {
        return layers.isEmpty() ? "" : " (" + ranges(layers) + ")";
    }

    private void check(TensorCheck c) {
        String verdict = c.passes() ? "passed" : "FAILED";
        kv("Tensor check", verdict + ": " + c.found() + " of " + c.expected() + " expected tensors present with the implied shape; "
                + c.missing().size() + " missing, " + c.wrongShape().size() + " wrong shape, " + c.unexpected().size()
                + " unexpected" + (c.ignored().isEmpty() ? "" : ", " + c.ignored().size() + " ignored (MTP layers, rotary buffers, tied LM head copy)"));
        list("missing", c.missing().stream().map(ExpectedTensor::toString).toList());
        list("wrong shape", c.wrongShape().stream()
                .map(w -> w.name() + " is " + Arrays.toString(w.actual()) + ", expected " + Arrays.toString(w.expected())).toList());
        list("unexpected", c.unexpected());
    }

    private void list(String what, List<String> names) {
        for (int i = 0; i < Math.min(names.size(), LIST_LIMIT); i++) out.append("  ").append(what).append(": ").append(names.get(i)).append('\n');
        if (names.size() > LIST_LIMIT) out.append("  ... and ").append(names.size() - LIST_LIMIT).append(" more ").append(what).append('\n');
    }

    private void kv(String key, String value) {
        out.append(String.format(Locale.ROOT, "%-16s %s%n", key, value));
    }

    private void row(String c1, String c2, String c3, String c4) {
        out.append(String.format(Locale.ROOT, "%-16s %14s %14s %14s%n", c1, c2, c3, c4));
    }
}
