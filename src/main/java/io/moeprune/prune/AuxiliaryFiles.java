package io.moeprune.prune;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Copies every file of the model directory that is not a weight file (tokenizer, chat template, generation config,
 * README, licence, custom code...) into the pruned model, keeping subdirectories. Weight files in any format
 * are left out: they describe the full model, and the pruned safetensors replace them. Hidden directories
 * ({@code .git}, {@code .cache}) are caches of the download, not part of the model.
 */
final class AuxiliaryFiles {
    private static final List<String> WEIGHT_SUFFIXES = List.of(".safetensors", ".bin", ".pt", ".pth", ".ckpt",
            ".gguf", ".h5", ".msgpack", ".onnx", ".safetensors.index.json", ".bin.index.json", ".pth.index.json");

    private AuxiliaryFiles() {
    }

    /** What was copied and what was left out (relative paths). */
    record Result(List<String> copied, List<String> skipped) {
    }

    static boolean isWeightFile(String fileName) {
        String n = fileName.toLowerCase(Locale.ROOT);
        for (String s : WEIGHT_SUFFIXES) if (n.endsWith(s)) return true;
        return false;
    }

    /** Copies from {@code model} into {@code out}, except {@code replaced} (top-level names written separately). */
    static Result copy(Path model, Path out, Set<String> replaced, WriteFault fault) throws IOException {
        List<String> copied = new ArrayList<>(), skipped = new ArrayList<>();
        Files.walkFileTree(model, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (!dir.equals(model) && dir.getFileName().toString().startsWith(".")) {
                    skipped.add(rel(dir) + "/");
                    return FileVisitResult.SKIP_SUBTREE;
                }
                // One level at a time (the walk is top-down): never re-creates an output a signal's cleanup removed.
                if (!dir.equals(model)) Files.createDirectory(out.resolve(rel(dir)));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                String rel = rel(file);
                if (replaced.contains(rel) || !attrs.isRegularFile() && !Files.isRegularFile(file)) return FileVisitResult.CONTINUE;
                if (isWeightFile(file.getFileName().toString())) {
                    skipped.add(rel);
                    return FileVisitResult.CONTINUE;
                }
                fault.check("file " + rel);
                Files.copy(file, out.resolve(rel), StandardCopyOption.COPY_ATTRIBUTES);
                copied.add(rel);
                return FileVisitResult.CONTINUE;
            }

            private String rel(Path p) {
                return model.relativize(p).toString().replace('\\', '/');
            }
        });
        copied.sort(null);
        skipped.sort(null);
        return new Result(List.copyOf(copied), List.copyOf(skipped));
    }
}
