package io.moeprune.provenance;

import io.moeprune.MoepruneException;
import io.moeprune.ToolVersion;
import io.moeprune.select.ExpertMask;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * Writes what a prune records about itself into the staging directory of the pruned checkpoint: moeprune.json (the
 * chain, continued from the source's record when it has one) and the model card with its provenance section.
 */
public final class ProvenanceWriter {
    /** Top-level files of the pruned checkpoint this writes (the source's own are not copied over them). */
    public static final List<String> WRITTEN = List.of(ProvenanceFile.NAME, ModelCard.NAME);

    private ProvenanceWriter() {
    }

    /**
     * @param previous the source's own record (null when it was not pruned by moeprune)
     * @param source   the model being pruned
     * @param mask     the mask applied, in the source's numbering
     * @param maskFile where it was read from (null when given in memory)
     * @param pruned   the checkpoint written (path left empty: it is moved into place afterwards)
     */
    public static Provenance write(Path staging, Path sourceDir, Provenance previous, Provenance.ModelRef source,
                                   ExpertMask mask, Path maskFile, Provenance.ModelRef pruned) throws IOException {
        Provenance.Step step = new Provenance.Step(ToolVersion.TEXT, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                source, maskFile == null ? "" : maskFile.toAbsolutePath().normalize().toString(),
                ProvenanceFile.strategyOf(maskFile), mask.method(), mask.budget(), mask.domains(), mask.kept());
        Provenance p = Provenance.after(previous, step, pruned);
        ProvenanceFile.write(p, staging.resolve(ProvenanceFile.NAME));
        Path card = sourceDir.resolve(ModelCard.NAME);
        String sourceCard;
        try {
            sourceCard = Files.isRegularFile(card) ? Files.readString(card) : null;
        } catch (java.nio.charset.CharacterCodingException e) {
            throw MoepruneException.inFile(card, "is not UTF-8 text; the pruned model's card cannot be made from it");
        }
        Files.writeString(staging.resolve(ModelCard.NAME), ModelCard.of(sourceCard, p));
        return p;
    }
}
