package io.moeprune.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** The "text" field of every non-blank line of a JSONL file (optionally .gz); bad lines name file and line. */
public final class JsonlTexts {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonlTexts() {
    }

    public static List<String> read(Path file) {
        if (!Files.isRegularFile(file)) throw MoepruneException.inFile(file, "data file not found");
        List<String> texts = new ArrayList<>();
        try (var in = Files.newInputStream(file);
             var reader = new BufferedReader(new InputStreamReader(
                     file.toString().endsWith(".gz") ? new GZIPInputStream(in) : in, StandardCharsets.UTF_8))) {
            String line;
            int lineNo = 0;
            while ((line = reader.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (IOException e) {
                    throw new MoepruneException(file + ":" + lineNo + ": not valid JSON");
                }
                JsonNode text = node == null ? null : node.get("text");
                if (text == null || !text.isTextual()) {
                    throw new MoepruneException(file + ":" + lineNo + ": no \"text\" string");
                }
                texts.add(text.asText());
            }
        } catch (IOException e) {
            throw MoepruneException.inFile(file, "cannot read: " + e.getMessage());
        }
        return texts;
    }
}
