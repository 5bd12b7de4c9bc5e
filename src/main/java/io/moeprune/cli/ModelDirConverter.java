package io.moeprune.cli;

import io.moeprune.MoepruneException;
import io.moeprune.model.HfCache;
import picocli.CommandLine;

import java.nio.file.Path;

/** Converts a MODEL argument to a model directory, resolving a Hugging Face cache folder to its snapshot. */
final class ModelDirConverter implements CommandLine.ITypeConverter<Path> {
    @Override
    public Path convert(String value) {
        try {
            return HfCache.resolve(Path.of(value));
        } catch (MoepruneException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
