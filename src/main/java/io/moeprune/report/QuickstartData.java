package io.moeprune.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moeprune.MoepruneException;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The quickstart's demonstrations, made from text the project ships: its own Java sources ({@code java}: one
 * document per file) and its own Markdown documentation ({@code docs}: one document per section of README.md,
 * BENCHMARKS.md and docs/*.md). Files are shuffled with a fixed seed, so the demonstrations (the first few documents)
 * and the held-out documents come from all over the code base and stay the same from run to run.
 */
public final class QuickstartData {
    /** Where the embedded model lives in the repository. */
    public static final Path MODEL = Path.of("models", "moe-tiny-7d");

    private QuickstartData() {
    }

    /** The repository root: the directory holding models/moe-tiny-7d, src/main/java and README.md. */
    public static Path findRoot(List<Path> candidates) {
        for (Path c : candidates) {
            if (c != null && Files.isRegularFile(c.resolve(MODEL).resolve("config.json"))
                    && Files.isDirectory(c.resolve("src/main/java"))) {
                return c.toAbsolutePath().normalize();
            }
        }
        throw new MoepruneException("the embedded model " + MODEL + "/ is missing (looked in " + candidates.stream()
                .filter(java.util.Objects::nonNull).map(p -> p.toAbsolutePath().normalize().toString()).distinct().toList()
                + "); quickstart runs from a checkout of the moeprune repository: run it as ./moeprune quickstart in "
                + "the repository root");
    }

    /** Writes java.jsonl and docs.jsonl into {@code dir}; returns domain name -> file. */
    public static Map<String, Path> write(Path root, Path dir) {
        try {
            Files.createDirectories(dir);
            List<Path> sources;
            try (Stream<Path> s = Files.walk(root.resolve("src/main/java"))) {
                sources = new ArrayList<>(s.filter(p -> p.toString().endsWith(".java")).sorted().toList());
            }
            Collections.shuffle(sources, new Random(1));
            List<String> java = new ArrayList<>();
            for (Path p : sources) java.add(Files.readString(p));

            List<Path> markdown = new ArrayList<>();
            for (String top : List.of("README.md", "BENCHMARKS.md")) {
                if (Files.isRegularFile(root.resolve(top))) markdown.add(root.resolve(top));
            }
            if (Files.isDirectory(root.resolve("docs"))) {
                try (Stream<Path> s = Files.list(root.resolve("docs"))) {
                    s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(markdown::add);
                }
            }
            List<String> docs = new ArrayList<>();
            for (Path p : markdown) docs.addAll(sections(Files.readString(p)));
            Collections.shuffle(docs, new Random(1));

            Map<String, Path> out = new LinkedHashMap<>();
            out.put("java", writeJsonl(dir.resolve("java.jsonl"), java));
            out.put("docs", writeJsonl(dir.resolve("docs.jsonl"), docs));
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Splits Markdown at its ## and ### headings; drops sections too short to say anything (tables of contents). */
    static List<String> sections(String markdown) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String line : markdown.split("\n", -1)) {
            if ((line.startsWith("## ") || line.startsWith("### ")) && !cur.isEmpty()) {
                out.add(cur.toString());
                cur.setLength(0);
            }
            cur.append(line).append('\n');
        }
        out.add(cur.toString());
        return out.stream().filter(s -> s.strip().length() >= 300).toList();
    }

    private static Path writeJsonl(Path file, List<String> texts) throws IOException {
        ObjectMapper json = new ObjectMapper();
        try (BufferedWriter w = Files.newBufferedWriter(file)) {
            for (String t : texts) {
                ObjectNode o = json.createObjectNode();
                o.put("text", t);
                w.write(json.writeValueAsString(o));
                w.write('\n');
            }
        }
        return file;
    }
}
