package io.moeprune.io;

import io.moeprune.MoepruneException;
import io.moeprune.tokenizer.Tokenizer;
import io.moeprune.tokenizer.Tokenizers;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** Every document form and file kind of {@link Documents}, with the chat template of the embedded model. */
class DocumentsTest {
    /** The embedded model of the repository: its tokenizer has a real (Qwen3) chat template. */
    static final Path MODEL = Path.of("models/moe-tiny-7d");
    static Tokenizer chat;

    @BeforeAll
    static void loadTokenizer() {
        chat = Tokenizers.load(MODEL);
    }

    static DocumentForms forms(String textField) {
        return DocumentForms.of(textField, chat);
    }

    static String conversation(String... roleContent) {
        List<Map<String, String>> msgs = new java.util.ArrayList<>();
        for (int i = 0; i < roleContent.length; i += 2) msgs.add(Map.of("role", roleContent[i], "content", roleContent[i + 1]));
        return chat.applyChatTemplate(msgs, false);
    }

    @Test
    void everyJsonlFormInOrder(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("mixed.jsonl"), """
                {"text": "plain text", "messages": "ignored: text comes first"}

                {"messages": [{"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "5"}]}
                {"prompt": "Question: 7*6?", "response": "42"}
                """);
        List<String> texts = Documents.read(f, forms(null));
        assertEquals(List.of("plain text", conversation("user", "What is 2+3?", "assistant", "5"),
                conversation("user", "Question: 7*6?", "assistant", "42")), texts);
        // the Qwen3 template really ran: role markers around the content
        assertTrue(texts.get(1).startsWith("<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"), texts.get(1));
    }

    @Test
    void promptAndResponseAreConcatenatedWithoutAModel(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("pr.jsonl"), "{\"prompt\": \"Q: 1+1?\\nA:\", \"response\": \" 2\"}\n");
        assertEquals(List.of("Q: 1+1?\nA: 2"), Documents.read(f, DocumentForms.of(null, null)));
    }

    @Test
    void textFieldTakesAnyKeyOrDottedPath(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("other.jsonl"), """
                {"text": "not this", "body": "the body", "meta": {"abstract": "nested"}}
                {"body": "second body", "meta": {"abstract": "nested 2"}, "meta.abstract": "a key with a dot wins"}
                """);
        assertEquals(List.of("the body", "second body"), Documents.read(f, forms("body")));
        assertEquals(List.of("nested", "a key with a dot wins"), Documents.read(f, forms("meta.abstract")));
        var e = assertThrows(MoepruneException.class, () -> Documents.read(f, forms("meta.title")));
        assertEquals(f + ":1: no \"meta.title\"", e.getMessage());
    }

    @Test
    void gzipDirectoriesAndMax(@TempDir Path dir) throws IOException {
        Path d = Files.createDirectory(dir.resolve("data"));
        Files.writeString(d.resolve("b.jsonl"), "{\"text\": \"b1\"}\n{\"text\": \"b2\"}\n");
        gzip(d.resolve("a.jsonl.gz"), "{\"text\": \"a1\"}\n");
        ParquetTestFiles.write(d.resolve("c.parquet"), Map.of("text", List.of("c1", "c2")), null);
        Files.writeString(d.resolve("notes.txt"), "not a document file");
        Files.createDirectory(d.resolve("sub"));
        Files.writeString(d.resolve("sub").resolve("z.jsonl"), "{\"text\": \"not recursive\"}\n");
        assertEquals(List.of("a1", "b1", "b2", "c1", "c2"), Documents.read(d, forms(null)));
        assertEquals(List.of("a1", "b1", "b2"), Documents.read(List.of(d), forms(null), 3));
        assertEquals(List.of("a1", "b1", "b2", "c1"), Documents.read(List.of(d), forms(null), 4), "the first Parquet row only");
        // files and directories mix, in the order given
        assertEquals(List.of("b1", "b2", "a1", "b1", "b2", "c1", "c2"),
                Documents.read(List.of(d.resolve("b.jsonl"), d), forms(null)));
        Path empty = Files.createDirectory(dir.resolve("empty"));
        var e = assertThrows(MoepruneException.class, () -> Documents.read(empty, forms(null)));
        assertEquals(empty + ": holds no .jsonl, .jsonl.gz or .parquet files", e.getMessage());
    }

    @Test
    void parquetTextColumnsAndTextField(@TempDir Path dir) throws IOException {
        Map<String, List<String>> cols = new LinkedHashMap<>();
        cols.put("id", List.of("r1", "r2", "r3"));
        cols.put("text", List.of("first document", "zweites Dokument ü", "third"));
        cols.put("content", List.of("c1", "c2", "c3"));
        Path f = ParquetTestFiles.write(dir.resolve("train-00000-of-00001.parquet"), cols, null);
        assertEquals(List.of("first document", "zweites Dokument ü", "third"), Documents.read(f, forms(null)));
        assertEquals(List.of("c1", "c2", "c3"), Documents.read(f, forms("content")));
        var e = assertThrows(MoepruneException.class, () -> Documents.read(f, forms("body")));
        assertEquals(f + ": no column \"body\" (its columns: id, text, content)", e.getMessage());
    }

    @Test
    void parquetMessagesAndPromptResponse(@TempDir Path dir) throws IOException {
        Path chatFile = ParquetTestFiles.write(dir.resolve("chat.parquet"), Map.of(), List.of(
                List.of(Map.of("role", "user", "content", "Hi"), Map.of("role", "assistant", "content", "Hello!")),
                List.of(Map.of("role", "user", "content", "2+2?"), Map.of("role", "assistant", "content", "4"),
                        Map.of("role", "user", "content", "and 3+3?"))));
        assertEquals(List.of(conversation("user", "Hi", "assistant", "Hello!"),
                conversation("user", "2+2?", "assistant", "4", "user", "and 3+3?")), Documents.read(chatFile, forms(null)));

        Map<String, List<String>> cols = new LinkedHashMap<>();
        cols.put("prompt", List.of("Q?"));
        cols.put("response", List.of("A."));
        Path pr = ParquetTestFiles.write(dir.resolve("pr.parquet"), cols, null);
        assertEquals(List.of(conversation("user", "Q?", "assistant", "A.")), Documents.read(pr, forms(null)));
    }

    @Test
    void snappyAndGzipCompressedParquetReadAndZstdIsRefusedInOneLine(@TempDir Path dir) throws IOException {
        List<String> texts = java.util.stream.IntStream.range(0, 50).mapToObj(i -> "document " + i + " ".repeat(i)).toList();
        for (var codec : List.of(ParquetTestFiles.Codec.SNAPPY, ParquetTestFiles.Codec.GZIP)) {
            Path f = ParquetTestFiles.write(dir.resolve(codec + ".parquet"), Map.of("text", texts), null, codec);
            assertEquals(texts, Documents.read(f, forms(null)), codec.toString());
        }
        Path zstd = ParquetTestFiles.write(dir.resolve("zstd.parquet"), Map.of("text", texts), null, ParquetTestFiles.Codec.ZSTD);
        var e = assertThrows(MoepruneException.class, () -> Documents.read(zstd, forms(null)));
        assertEquals(zstd + ": compressed with ZSTD, which moeprune does not read (it reads uncompressed, SNAPPY and "
                + "GZIP Parquet files)", e.getMessage());
    }

    @Test
    void aRecordWithoutAUsableFieldNamesFileAndLineOrRow(@TempDir Path dir) throws IOException {
        Path jsonl = Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"ok\"}\n\n{\"body\": \"x\"}\n");
        var e1 = assertThrows(MoepruneException.class, () -> Documents.read(jsonl, forms(null)));
        assertEquals(jsonl + ":3: needs \"text\", \"messages\", or \"prompt\" and \"response\" (or --text-field NAME "
                + "for another key)", e1.getMessage());

        Path parquet = ParquetTestFiles.write(dir.resolve("nulls.parquet"), Map.of("text", Arrays.asList("ok", null)), null);
        var e2 = assertThrows(MoepruneException.class, () -> Documents.read(parquet, forms(null)));
        assertTrue(e2.getMessage().startsWith(parquet + ": row 2: needs \"text\""), e2.getMessage());

        Path numbers = Files.writeString(dir.resolve("num.jsonl"), "{\"text\": 3}\n");
        var e3 = assertThrows(MoepruneException.class, () -> Documents.read(numbers, forms(null)));
        assertEquals(numbers + ":1: \"text\" is not a string", e3.getMessage());

        Path msgs = Files.writeString(dir.resolve("msgs.jsonl"), "{\"messages\": [{\"role\": \"user\"}]}\n");
        var e4 = assertThrows(MoepruneException.class, () -> Documents.read(msgs, forms(null)));
        assertEquals(msgs + ":1: each message needs string \"role\" and \"content\"", e4.getMessage());

        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "\n");
        var e5 = assertThrows(MoepruneException.class, () -> Documents.read(empty, forms(null)));
        assertEquals(empty + ": holds no documents (one record per line or row)", e5.getMessage());

        Path missing = dir.resolve("missing.jsonl");
        var e6 = assertThrows(MoepruneException.class, () -> Documents.read(missing, forms(null)));
        assertEquals(missing + ": no such file or directory", e6.getMessage());

        Path notParquet = Files.writeString(dir.resolve("fake.parquet"), "{\"text\": \"json, not parquet\"}\n");
        var e7 = assertThrows(MoepruneException.class, () -> Documents.read(notParquet, forms(null)));
        assertTrue(e7.getMessage().startsWith(notParquet + ": cannot read as Parquet: "), e7.getMessage());
        assertEquals(1, e7.getMessage().lines().count());
    }

    @Test
    void parquetTextThatIsNotUtf8NamesFileRowAndColumn(@TempDir Path dir) throws IOException {
        Path f = ParquetTestFiles.write(dir.resolve("latin1.parquet"), Map.of("text", List.of("fine", "caf@@")), null);
        byte[] bytes = Files.readAllBytes(f);
        String latin1 = new String(bytes, StandardCharsets.ISO_8859_1);
        int at = latin1.indexOf("caf@@") + 3;
        bytes[at] = (byte) 0xE9; // "café" in ISO-8859-1: a lone continuation-less byte, not UTF-8
        bytes[at + 1] = (byte) ' ';
        Files.write(f, bytes);
        var e = assertThrows(MoepruneException.class, () -> Documents.read(f, forms(null)));
        assertEquals(f + ": row 2: column \"text\" is not UTF-8 text", e.getMessage());
    }

    @Test
    void messagesWithoutAModelAreRefusedInOneLine(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("chat.jsonl"),
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
        var e = assertThrows(MoepruneException.class, () -> Documents.read(f, DocumentForms.of(null, null)));
        assertEquals(f + ":1: \"messages\" need a model's chat template, and this command reads no model", e.getMessage());
    }

    static void gzip(Path file, String text) throws IOException {
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }
}
