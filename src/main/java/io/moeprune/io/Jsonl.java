package io.moeprune.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The JSON objects of a JSONL file (optionally .gz), blank lines skipped; errors name the file and line. The one
 * JSONL reader of the project: demonstrations, evaluation items and domain texts all come through it.
 */
public final class Jsonl {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One object and where it came from, for error messages about its fields. */
    public record Line(Path file, int number, JsonNode node) {
        public MoepruneException error(String problem) {
            return new MoepruneException(file + ":" + number + ": " + problem);
        }

        public String requireString(String... keys) {
            for (String k : keys) {
                JsonNode v = node.get(k);
                if (v != null && v.isTextual()) return v.asText();
            }
            throw error("no " + String.join(" or ", keys.length == 1 ? List.of(quote(keys[0]))
                    : java.util.Arrays.stream(keys).map(Jsonl::quote).toList()) + " string");
        }
    }

    private Jsonl() {
    }

    /** Every object of the file; an empty file gives an empty list. */
    public static List<Line> read(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "data file not found");
        List<Line> lines = new ArrayList<>();
        try (var reader = new BufferedReader(new InputStreamReader(open(file),
                     // A decoder that reports bad bytes (the charset's default would replace them silently).
                     StandardCharsets.UTF_8.newDecoder()))) {
            String line;
            int number = 0;
            while ((line = readLine(reader, file)) != null) {
                number++;
                if (line.isBlank()) continue;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (IOException e) {
                    throw new MoepruneException(file + ":" + number + ": not valid JSON");
                }
                if (node == null || !node.isObject()) throw new MoepruneException(file + ":" + number + ": not a JSON object");
                lines.add(new Line(file, number, node));
            }
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "cannot read: " + e.getMessage());
        }
        return lines;
    }

    private static String readLine(BufferedReader reader, Path file) throws IOException {
        try {
            return reader.readLine();
        } catch (CharacterCodingException e) {
            // The reader decodes ahead of the line it returns: find the line again, byte by byte (error path only).
            throw new MoepruneException(file + ":" + firstNonUtf8Line(file) + ": not valid UTF-8");
        }
    }

    private static long firstNonUtf8Line(Path file) throws IOException {
        try (var in = new BufferedInputStream(open(file))) {
            var line = new ByteArrayOutputStream();
            long number = 1;
            for (int b = in.read(); ; b = in.read()) {
                if (b == '\n' || b < 0) {
                    try {
                        StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(line.toByteArray()));
                    } catch (CharacterCodingException e) {
                        return number;
                    }
                    if (b < 0) return number;
                    line.reset();
                    number++;
                } else {
                    line.write(b);
                }
            }
        }
    }

    private static InputStream open(Path file) throws IOException {
        var in = Files.newInputStream(file);
        return file.toString().endsWith(".gz") ? new GZIPInputStream(in) : in;
    }

    /** Every object of the file; an empty file is an error naming the file. */
    public static List<Line> readNonEmpty(Path file) {
        List<Line> lines = read(file);
        if (lines.isEmpty()) throw MoepruneException.inFile(file, "no JSON lines");
        return lines;
    }

    private static String quote(String key) {
        return "\"" + key + "\"";
    }
}
