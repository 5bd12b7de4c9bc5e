package io.moeprune.report;

import io.moeprune.MoepruneException;
import io.moeprune.io.DocumentFiles;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns `--domains` arguments into named document files: a directory contributes every .jsonl, .jsonl.gz and .parquet
 * file in it (sorted, as {@link DocumentFiles} lists them), a file itself, NAME=FILE names a file explicitly. A domain's
 * name is the file name without its extension and a trailing .dev / .test (java.dev.jsonl -> java).
 */
public final class DomainFiles {
    private DomainFiles() {
    }

    public static Map<String, Path> parse(List<String> args) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (String a : args) {
            int eq = a.indexOf('=');
            if (eq > 0 && !Files.exists(Path.of(a))) {
                add(out, a.substring(0, eq), Path.of(a.substring(eq + 1)));
                continue;
            }
            Path p = Path.of(a);
            if (Files.isDirectory(p)) {
                for (Path f : DocumentFiles.inDirectory(p)) add(out, name(f), f);
            } else {
                add(out, name(p), p);
            }
        }
        if (out.isEmpty()) throw new MoepruneException("--domains: give at least one document file or directory");
        return out;
    }

    private static void add(Map<String, Path> out, String name, Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "no such file");
        if (name.isEmpty()) throw MoepruneException.inFile(file, "empty domain name");
        if (out.containsKey(name)) {
            throw MoepruneException.inFile(file, "domain '" + name + "' is also given by " + out.get(name)
                    + "; name one of them explicitly with NAME=FILE");
        }
        out.put(name, file);
    }

    static String name(Path f) {
        return DocumentFiles.stem(f).replaceAll("\\.(dev|test|train|validation)$", "");
    }
}
