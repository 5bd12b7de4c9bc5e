package io.moeprune.cli;

import io.moeprune.prune.ByteSize;
import io.moeprune.runtime.MemoryBudget;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code --memory-budget SIZE}, shared by the commands that run the model layer-major: bounds heap plus resident
 * weights ({@link MemoryBudget}; the launcher gives the JVM half of it as heap). Beyond it, weights are streamed a
 * layer at a time and residual streams spill to a temporary file beside the output.
 */
final class MemoryBudgetOption {
    @Option(names = "--memory-budget", paramLabel = "SIZE",
            description = "memory for heap plus resident weights, e.g. 16GB (default: the memory available)")
    String memoryBudget;

    /** Applies the option; spill files go into {@code outputDir} when it exists (else the temporary directory). */
    void apply(Path outputDir) {
        MemoryBudget.reset();
        if (memoryBudget != null) MemoryBudget.set(ByteSize.parse(memoryBudget));
        if (outputDir != null && Files.isDirectory(outputDir)) MemoryBudget.spillTo(outputDir);
    }
}
