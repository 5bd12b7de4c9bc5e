package io.moeprune.provenance;

import io.moeprune.select.ExpertMask;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The model card ({@code README.md}) of a pruned checkpoint: the source's card unchanged, preceded by a short section
 * saying what was pruned from what, for which domains, and how to reproduce it. Hugging Face reads metadata from a
 * YAML front matter at the very top, so an existing one stays first (its {@code base_model} now naming the source,
 * the Hub's convention for derived models) and the section follows it; a card without one gets one.
 */
public final class ModelCard {
    /** File name of a model card. */
    public static final String NAME = "README.md";
    /** First line of the section, so that readers (and a later prune) can recognise it. */
    static final String MARKER = "<!-- moeprune: how this checkpoint was made; the source model's card follows the section -->";
    /** A Hugging Face cache snapshot: .../models--ORG--NAME/snapshots/REVISION. */
    private static final Pattern HUB_CACHE = Pattern.compile("models--([^/\\\\]+?)--([^/\\\\]+)[/\\\\]snapshots[/\\\\][^/\\\\]+/?$");
    private static final Pattern FRONT_MATTER = Pattern.compile("\\A---\\r?\\n(.*?\\r?\\n)?---[ \\t]*(\\r?\\n|\\z)", Pattern.DOTALL);
    private static final Pattern PLAIN_YAML = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._/-]*");

    private ModelCard() {
    }

    /**
     * The pruned checkpoint's card.
     *
     * @param sourceCard the source model's README.md, null when it has none
     */
    public static String of(String sourceCard, Provenance p) {
        String baseModel = baseModelId(p.last().source().path());
        String section = section(p);
        if (sourceCard == null) return frontMatter(List.of(), baseModel) + "\n" + section;
        Matcher m = FRONT_MATTER.matcher(sourceCard);
        if (!m.find()) return frontMatter(List.of(), baseModel) + "\n" + section + "\n" + sourceCard;
        List<String> lines = m.group(1) == null ? List.of() : m.group(1).lines().toList();
        return frontMatter(lines, baseModel) + "\n" + section + "\n" + sourceCard.substring(m.end());
    }

    /**
     * The Hub id to name as {@code base_model}: ORG/NAME for a model read from a Hugging Face cache snapshot, else
     * the source directory's name (a local model has no Hub id; its name is the best one there is).
     */
    static String baseModelId(String sourcePath) {
        Matcher m = HUB_CACHE.matcher(sourcePath);
        if (m.find()) return m.group(1) + "/" + m.group(2);
        Path name = Path.of(sourcePath).getFileName();
        return name == null ? sourcePath : name.toString();
    }

    /** The front matter's lines with any base_model entry (a value or an indented list) replaced by the source. */
    private static String frontMatter(List<String> lines, String baseModel) {
        List<String> out = new ArrayList<>();
        boolean inBaseModel = false;
        for (String line : lines) {
            if (line.startsWith("base_model:")) {
                inBaseModel = true;
                continue;
            }
            if (inBaseModel && (line.isBlank() || line.startsWith(" ") || line.startsWith("\t") || line.startsWith("-"))) continue;
            inBaseModel = false;
            out.add(line);
        }
        out.add("base_model: " + (PLAIN_YAML.matcher(baseModel).matches() ? baseModel
                : "\"" + baseModel.replace("\\", "\\\\").replace("\"", "\\\"") + "\""));
        return "---\n" + String.join("\n", out) + "\n---\n";
    }

    /** The section at the top of the card (Markdown). */
    static String section(Provenance p) {
        Provenance.Step last = p.last();
        Provenance.ModelRef source = last.source(), original = p.original();
        StringBuilder s = new StringBuilder();
        s.append(MARKER).append('\n');
        s.append("## Pruned with moeprune\n\n");
        s.append("This checkpoint is `").append(name(source.path())).append("` with routed experts removed: it keeps **")
                .append(p.keptPerLayer()).append(" of ").append(original.numExperts()).append(" experts** in each of its ")
                .append(original.moeLayers().size()).append(" MoE layers.\n\n");
        s.append("- Pruned from: `").append(source.path()).append("` (fingerprint `").append(source.fingerprint()).append("`)");
        if (p.steps().size() > 1) {
            s.append(", itself pruned from `").append(original.path()).append("` (").append(p.steps().size())
                    .append(" pruning steps; the ids in moeprune.json refer to that original)");
        }
        s.append('\n');
        s.append("- Domains: ").append(domains(last.domains())).append('\n');
        s.append("- Selection: method `").append(last.method()).append("`, budget `").append(last.budget())
                .append("`, strategy `").append(last.strategy()).append("`\n");
        s.append("- Kept experts: the original id of every kept expert, per layer and in the new order, is in `")
                .append(ProvenanceFile.NAME).append("`\n");
        s.append("- Reproduce (in this directory, with the original model at that path): `")
                .append(reproduceCommand(p)).append("`\n");
        s.append("\nThe card of the source model follows unchanged.\n");
        return s.toString();
    }

    /** The command that makes this checkpoint again from the original model in one step. */
    static String reproduceCommand(Provenance p) {
        return "moeprune prune " + shellWord(p.original().path()) + " --mask " + ProvenanceFile.NAME + " --out pruned";
    }

    /** "math (8 demonstrations, 1,383 tokens), ..." */
    public static String domains(List<ExpertMask.DomainRef> domains) {
        if (domains.isEmpty()) return "not recorded (the mask names none)";
        return domains.stream().map(d -> String.format(Locale.ROOT, "%s (%d demonstrations, %,d tokens%s)", d.name(),
                d.demos(), d.tokens(), d.weight() == 1.0 ? "" : String.format(Locale.ROOT, ", weight %s", d.weight())))
                .collect(Collectors.joining(", "));
    }

    private static String name(String path) {
        Path n = Path.of(path).getFileName();
        return n == null ? path : n.toString();
    }

    private static String shellWord(String s) {
        return s.matches("[A-Za-z0-9._/+=:@%-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
