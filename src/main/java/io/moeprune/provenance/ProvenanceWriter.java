package io.moeprune.provenance;

import io.moeprune.MoepruneException;
import io.moeprune.ToolVersion;
import io.moeprune.model.ModelSpec;
import io.moeprune.select.ExpertMask;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * Writes what a prune records about itself into the staging directory of the pruned checkpoint: moeprune.json (the
 * chain, continued from the source's record when it has one) and the model card with its provenance section. What
 * it needs from the source is read first ({@link #forSource}), so that bad input is refused before any tensor is
 * written.
 */
public final class ProvenanceWriter {
    /** Top-level files of the pruned checkpoint this writes (the source's own are not copied over them). */
    public static final List<String> WRITTEN = List.of(ProvenanceFile.NAME, ModelCard.NAME);

    private final Provenance previous;
    private final Provenance.ModelRef source;
    private final String sourceCard;

    private ProvenanceWriter(Provenance previous, Provenance.ModelRef source, String sourceCard) {
        this.previous = previous;
        this.source = source;
        this.sourceCard = sourceCard;
    }

    /**
     * Reads the source's own record (checked to describe it) and its model card; either may be absent.
     *
     * @param fingerprint the source's {@code ModelFingerprint}
     */
    public static ProvenanceWriter forSource(Path modelDir, String fingerprint, ModelSpec spec) {
        Provenance previous = ProvenanceFile.ofSource(modelDir, fingerprint, spec.moeLayers());
        Path card = modelDir.resolve(ModelCard.NAME);
        String sourceCard = null;
        try {
            if (Files.isRegularFile(card)) sourceCard = Files.readString(card);
        } catch (CharacterCodingException e) {
            throw MoepruneException.inFile(card, "is not UTF-8 text; the pruned model's card cannot be made from it");
        } catch (IOException e) {
            throw MoepruneException.inFile(card, "cannot be read: " + e.getMessage());
        }
        return new ProvenanceWriter(previous,
                Provenance.ModelRef.of(modelDir.toAbsolutePath().normalize().toString(), fingerprint, spec), sourceCard);
    }

    /**
     * @param mask     the mask applied, in the source's numbering
     * @param maskFile where it was read from (null when given in memory)
     * @param pruned   the checkpoint written (path left empty: it is moved into place afterwards)
     */
    public Provenance write(Path staging, ExpertMask mask, Path maskFile, Provenance.ModelRef pruned) throws IOException {
        Provenance.Step step = new Provenance.Step(ToolVersion.TEXT, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                source, maskFile == null ? "" : maskFile.toAbsolutePath().normalize().toString(),
                mask.strategy() == null ? "default" : mask.strategy().cliName(), mask.method(), mask.budget(), mask.domains(), mask.kept());
        Provenance p = Provenance.after(previous, step, pruned);
        ProvenanceFile.write(p, staging.resolve(ProvenanceFile.NAME));
        Files.writeString(staging.resolve(ModelCard.NAME), ModelCard.of(sourceCard, p));
        return p;
    }
}
