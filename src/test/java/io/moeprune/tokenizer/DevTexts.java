package io.moeprune.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The development texts of the shared test bed (../shared/data/domains/*.dev.jsonl). */
final class DevTexts {
    static final Path SHARED = Path.of("../shared");
    static final Path DOMAINS = SHARED.resolve("data/domains");
    static final Path TINY_MODEL = SHARED.resolve("models/moe-tiny-7d");

    record Doc(String domain, int line, String text) {
    }

    private DevTexts() {
    }

    static boolean present() {
        return Files.isDirectory(DOMAINS) && Files.isRegularFile(TINY_MODEL.resolve("tokenizer.json"));
    }

    /** Every document of every domain, in domain-name order. */
    static List<Doc> all() {
        ObjectMapper json = new ObjectMapper();
        List<Doc> docs = new ArrayList<>();
        try (Stream<Path> files = Files.list(DOMAINS)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".dev.jsonl")).sorted().toList()) {
                String domain = f.getFileName().toString().replace(".dev.jsonl", "");
                int line = 0;
                for (String l : Files.readAllLines(f)) {
                    if (!l.isBlank()) {
                        docs.add(new Doc(domain, line, json.readTree(l).path("text").asText()));
                    }
                    line++;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return docs;
    }
}
