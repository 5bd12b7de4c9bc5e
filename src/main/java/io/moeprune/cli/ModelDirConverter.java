package io.moeprune.cli;

import io.moeprune.model.HfCache;
import picocli.CommandLine;

import java.nio.file.Path;

/**
 * Converts a MODEL argument to a model directory, resolving a Hugging Face cache folder to its snapshot. A cache
 * folder it cannot resolve is a MoepruneException, which Main prints as one line naming the folder.
 */
final class ModelDirConverter implements CommandLine.ITypeConverter<Path> {
    @Override
    public Path convert(String value) {
        return HfCache.resolve(Path.of(value));
    }
}
