package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.io.IoErrors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Refuses an output directory that is, contains or lies inside the model being pruned. */
final class OutputLocation {
    private OutputLocation() {
    }

    static void checkOutsideModel(Path target, Path modelDir) {
        Path model;
        try {
            model = modelDir.toRealPath();
        } catch (IOException e) {
            throw MoepruneException.inFile(modelDir, "cannot be read: " + IoErrors.reason(e));
        }
        Path realOut = realish(target.toAbsolutePath().normalize());
        if (realOut.equals(model) || model.startsWith(realOut)) {
            throw MoepruneException.inFile(target, "is the model directory or contains it; choose another output directory");
        }
        if (realOut.startsWith(model)) {
            throw MoepruneException.inFile(target, "is inside the model directory; choose a directory outside it");
        }
    }

    /** Resolves the existing part of a path through links, so comparisons with the model directory are honest. */
    private static Path realish(Path p) {
        Path existing = p;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return p;
        try {
            return existing.toRealPath().resolve(existing.relativize(p)).normalize();
        } catch (IOException e) {
            return p;
        }
    }
}
