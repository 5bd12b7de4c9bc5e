package io.moeprune.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.calibrate.ExpertStats;
import io.moeprune.calibrate.StatsFile;
import io.moeprune.io.ParquetTestFiles;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.moeprune.cli.RuntimeCommandsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The document inputs and model paths as the commands take them, on the embedded model (models/moe-tiny-7d): the same
 * documents as JSONL, Parquet with --text-field and a directory give the same loss, and a Hugging Face cache folder
 * stands for its snapshot.
 */
class DocumentInputsCommandTest {
    static final Path MODEL = Path.of("models/moe-tiny-7d").toAbsolutePath();
    static final List<String> DOCS = List.of("public static int add(int a, int b) { return a + b; }",
            "The expert router picks the top four experts for every token of the sequence.");

    static JsonNode perplexity(String model, String... data) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("perplexity", model, "--json", "--threads", "2"));
        args.addAll(List.of(data));
        RuntimeCommandsTest.Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err().replaceAll("(?m)^perplexity.*$", "").strip(), "nothing but progress on stderr");
        return new ObjectMapper().readTree(r.out());
    }

    @Test
    void jsonlParquetAndDirectoriesGiveTheSameDocuments(@TempDir Path dir) throws Exception {
        Path jsonl = Files.writeString(dir.resolve("docs.jsonl"),
                "{\"text\": " + quote(DOCS.get(0)) + "}\n{\"text\": " + quote(DOCS.get(1)) + "}\n");
        Path parquetDir = Files.createDirectory(dir.resolve("parquet"));
        ParquetTestFiles.write(parquetDir.resolve("train-00000.parquet"), Map.of("body", List.of(DOCS.get(0))), null);
        ParquetTestFiles.write(parquetDir.resolve("train-00001.parquet"), Map.of("body", List.of(DOCS.get(1))), null,
                ParquetTestFiles.Codec.SNAPPY);

        JsonNode fromJsonl = perplexity(MODEL.toString(), "--data", jsonl.toString());
        JsonNode fromParquet = perplexity(MODEL.toString(), "--data", parquetDir.toString(), "--text-field", "body");
        assertEquals(2, fromJsonl.get("documents").asInt());
        assertEquals(fromJsonl.get("predicted_tokens").asInt(), fromParquet.get("predicted_tokens").asInt());
        assertEquals(fromJsonl.get("loss").asDouble(), fromParquet.get("loss").asDouble(), 1e-9);
        assertTrue(fromJsonl.get("loss").asDouble() > 0.5, "a real loss: " + fromJsonl.get("loss"));

        RuntimeCommandsTest.Run missing = run("perplexity", MODEL.toString(), "--data", parquetDir.toString());
        assertEquals(2, missing.code());
        assertEquals("moeprune: error: " + parquetDir.resolve("train-00000.parquet")
                + ": no column \"text\", \"messages\", or \"prompt\" and \"response\" (its columns: body)", missing.err().strip());
    }

    @Test
    void evalRendersMessagesWithTheChatTemplate(@TempDir Path dir) throws Exception {
        Path chat = Files.writeString(dir.resolve("chat.jsonl"), """
                {"messages": [{"role": "user", "content": "Add two ints in Java."}, {"role": "assistant", "content": "int add(int a, int b) { return a + b; }"}]}
                """);
        RuntimeCommandsTest.Run r = run("eval", MODEL.toString(), "--text", chat.toString(), "--json", "--threads", "2");
        assertEquals(0, r.code(), r.err());
        JsonNode text = new ObjectMapper().readTree(r.out()).get("text");
        assertEquals(1, text.get("documents").asInt(), r.out());
        Tokenizer tok = Tokenizers.load(MODEL);
        String rendered = tok.applyChatTemplate(List.of(Map.of("role", "user", "content", "Add two ints in Java."),
                Map.of("role", "assistant", "content", "int add(int a, int b) { return a + b; }")), false);
        assertTrue(rendered.contains("<|im_start|>assistant"), rendered);
        assertEquals(tok.encode(rendered).length, text.get("tokens").asInt(), r.out());
    }

    @Test
    void calibrateReadsADirectoryOfParquetConversationsAndGzippedJsonl(@TempDir Path dir) throws Exception {
        Path demos = Files.createDirectory(dir.resolve("support"));
        List<Map<String, String>> chat = List.of(Map.of("role", "user", "content", "How do I reset my password?"),
                Map.of("role", "assistant", "content", "Open Settings, then Account, then Reset."));
        ParquetTestFiles.write(demos.resolve("a-chat.parquet"), Map.of(), List.of(chat, chat), ParquetTestFiles.Codec.SNAPPY);
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(demos.resolve("b-more.jsonl.gz")))) {
            out.write(("{\"text\": " + quote(DOCS.get(0)) + "}\n{\"text\": \"never read: --max-demos 3\"}\n").getBytes());
        }
        Path stats = dir.resolve("support.stats");
        RuntimeCommandsTest.Run r = run("calibrate", MODEL.toString(), "--data", demos.toString(), "--demos", "3",
                "--out", stats.toString(), "--quiet", "--threads", "2");
        assertEquals(0, r.code(), r.err());
        ExpertStats s = StatsFile.read(stats);
        assertEquals("support", s.domain());
        assertEquals(3, s.numDemos());
        Tokenizer tok = Tokenizers.load(MODEL);
        long expected = 2L * tok.encode(tok.applyChatTemplate(chat, false)).length + tok.encode(DOCS.get(0)).length;
        assertEquals(expected, s.totalTokens());
    }

    @Test
    void aHuggingFaceCacheFolderStandsForItsSnapshot(@TempDir Path dir) throws Exception {
        Path hub = Files.createDirectory(dir.resolve("hub"));
        Path repo = hub.resolve("models--moeprune--moe-tiny-7d");
        Files.createDirectories(repo.resolve("snapshots"));
        Files.createDirectories(repo.resolve("refs"));
        Files.createSymbolicLink(repo.resolve("snapshots/0123abcd"), MODEL);
        Files.writeString(repo.resolve("refs/main"), "0123abcd");
        Path data = Files.writeString(dir.resolve("d.jsonl"), "{\"text\": " + quote(DOCS.get(0)) + "}\n");

        double direct = perplexity(MODEL.toString(), "--data", data.toString()).get("loss").asDouble();
        assertEquals(direct, perplexity(repo.toString(), "--data", data.toString()).get("loss").asDouble(), 1e-12);
        assertEquals(direct, perplexity(hub.resolve("moeprune/moe-tiny-7d").toString(), "--data", data.toString())
                .get("loss").asDouble(), 1e-12);

        Files.delete(repo.resolve("refs/main"));
        Files.createSymbolicLink(repo.resolve("snapshots/4567ef00"), MODEL);
        RuntimeCommandsTest.Run ambiguous = run("inspect", repo.toString());
        assertEquals(2, ambiguous.code());
        assertEquals(1, ambiguous.err().strip().lines().count(), ambiguous.err());
        assertTrue(ambiguous.err().contains(repo + ": no refs/main and 2 snapshots; give one of them: [0123abcd, 4567ef00]"),
                ambiguous.err());
        // links out of the temporary directory: removed here so that JUnit's clean-up has nothing to warn about
        Files.delete(repo.resolve("snapshots/0123abcd"));
        Files.delete(repo.resolve("snapshots/4567ef00"));
    }

    private static String quote(String s) throws Exception {
        return new ObjectMapper().writeValueAsString(s);
    }
}
