package io.moeprune.report;

import io.moeprune.MoepruneException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Turns `--domains` arguments into named JSONL files: a directory contributes every *.jsonl / *.jsonl.gz in it
 * (sorted), a file itself, NAME=FILE names a file explicitly. A domain's name is the file name without .jsonl(.gz)
 * and a trailing .dev / .test (java.dev.jsonl -> java).
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
                List<Path> files = new ArrayList<>();
                try (Stream<Path> s = Files.list(p)) {
                    s.filter(f -> isJsonl(f) && Files.isRegularFile(f)).sorted().forEach(files::add);
                } catch (IOException e) {
                    throw MoepruneException.inFile(p, "cannot list the directory: " + e.getMessage());
                }
                if (files.isEmpty()) throw MoepruneException.inFile(p, "holds no .jsonl or .jsonl.gz files");
                for (Path f : files) add(out, name(f), f);
            } else {
                add(out, name(p), p);
            }
        }
        if (out.isEmpty()) throw new MoepruneException("--domains: give at least one JSONL file or directory");
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

    static boolean isJsonl(Path f) {
        String n = f.getFileName().toString();
        return n.endsWith(".jsonl") || n.endsWith(".jsonl.gz");
    }

    static String name(Path f) {
        String n = f.getFileName().toString().replaceAll("\\.jsonl(\\.gz)?$", "");
        return n.replaceAll("\\.(dev|test|train|validation)$", "");
    }
}
