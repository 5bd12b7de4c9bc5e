package io.moeprune.io;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The document files named by command-line paths: a file stands for itself (whatever its name), a directory for its
 * .jsonl, .jsonl.gz and .parquet files in sorted order (not recursive, so a data set's splits are not mixed up).
 */
public final class DocumentFiles {
    private static final List<String> EXTENSIONS = List.of(".jsonl.gz", ".jsonl", ".parquet");

    private DocumentFiles() {
    }

    public static List<Path> expand(List<Path> paths) {
        List<Path> files = new ArrayList<>();
        for (Path p : paths) {
            if (Files.isDirectory(p)) files.addAll(inDirectory(p));
            else if (Files.isRegularFile(p)) files.add(p);
            else throw MoepruneException.inFile(p, "no such file or directory");
        }
        return files;
    }

    /** The document files of one directory, sorted; an error naming the directory when there are none. */
    public static List<Path> inDirectory(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> files = s.filter(f -> isDocumentFile(f) && Files.isRegularFile(f)).sorted().toList();
            if (files.isEmpty()) throw MoepruneException.inFile(dir, "holds no .jsonl, .jsonl.gz or .parquet files");
            return files;
        } catch (IOException e) {
            throw MoepruneException.inFile(dir, "cannot list the directory: " + e.getMessage());
        }
    }

    public static boolean isDocumentFile(Path f) {
        return extension(f) != null;
    }

    public static boolean isParquet(Path f) {
        return f.getFileName().toString().endsWith(".parquet");
    }

    /** The file name without its document extension (java.dev.jsonl.gz -> java.dev). */
    public static String stem(Path f) {
        String n = f.getFileName().toString(), ext = extension(f);
        return ext == null ? n : n.substring(0, n.length() - ext.length());
    }

    private static String extension(Path f) {
        String n = f.getFileName().toString();
        return EXTENSIONS.stream().filter(n::endsWith).findFirst().orElse(null);
    }
}
