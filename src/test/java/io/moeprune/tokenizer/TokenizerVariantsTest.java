package io.moeprune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Pipeline features that the shipped tokenizers do not all use (GPT-NeoX / OLMoE ByteLevel splitting with and
 * without a prefix space, Metaspace, split behaviors, added-token flags, ignore_merges, string merges, other
 * normalizers), made by editing a real tokenizer.json and compared with Hugging Face tokenizers.
 */
class TokenizerVariantsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static List<String> texts;

    @TempDir
    Path tmp;

    @BeforeAll
    static void texts() {
        texts = new ArrayList<>(TrickyTexts.ALL);
        texts.add("hello world, sayhello hello! <mask> after   <mask>x [SEP]   next \ufb01x fix FIX hello_there hello");
        texts.add("1,234.5 and 67.89, then a.b,c 2024 ab aab ba");
        if (DevTexts.present()) {
            List<DevTexts.Doc> docs = DevTexts.all();
            for (int i = 0; i < docs.size(); i += 60) {
                texts.add(docs.get(i).text());
            }
        }
    }

    private void compare(Path base, String name, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(base.toFile());
        edit.accept(root);
        Path file = tmp.resolve(name + ".json");
        JSON.writeValue(file.toFile(), root);
        Tokenizer ours = Tokenizers.fromTokenizerJson(file);
        try (DjlReference ref = new DjlReference(file)) {
            for (String text : texts) {
                ReferenceAssertions.assertSameAsReference(ours, ref, text, name);
            }
        }
        System.out.println(name + ": " + texts.size() + " texts identical to HF tokenizers");
    }

    private static Path shared() {
        Path p = DevTexts.TINY_MODEL.resolve("tokenizer.json");
        assumeTrue(Files.isRegularFile(p), "shared model absent");
        return p;
    }

    private static Path llama2() {
        return FamilyTokenizersTest.familyDir("llama2").resolve("tokenizer.json");
    }

    private static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(e);
        }
    }

    @Test
    void gptNeoxByteLevelWithoutPrefixSpace() throws IOException {
        compare(shared(), "bytelevel-regex", root -> {
            root.putNull("normalizer");
            root.set("pre_tokenizer", json("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"));
        });
    }

    @Test
    void byteLevelWithPrefixSpace() throws IOException {
        compare(shared(), "bytelevel-prefix", root -> {
            root.set("normalizer", json("{\"type\": \"NFC\"}"));
            root.set("pre_tokenizer", json("{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}"));
        });
    }

    @Test
    void addedTokenFlags() throws IOException {
        compare(shared(), "added-flags", root -> {
            root.set("normalizer", json("{\"type\": \"NFKC\"}"));
            ArrayNode added = (ArrayNode) root.get("added_tokens");
            added.add(json("{\"id\": 8192, \"content\": \"<mask>\", \"single_word\": false, \"lstrip\": true, \"rstrip\": false, \"normalized\": false, \"special\": true}"));
            added.add(json("{\"id\": 8193, \"content\": \"hello\", \"single_word\": true, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, \"special\": false}"));
            added.add(json("{\"id\": 8194, \"content\": \"[SEP]\", \"single_word\": false, \"lstrip\": false, \"rstrip\": true, \"normalized\": false, \"special\": true}"));
            added.add(json("{\"id\": 8195, \"content\": \"fix\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": true, \"special\": false}"));
            added.add(json("{\"id\": 8196, \"content\": \"<|im_start|>user\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"));
        });
    }

    @Test
    void splitBehaviorsAndDigits() throws IOException {
        compare(shared(), "split-behaviors", root -> root.set("pre_tokenizer", json("""
                {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "[,.]"}, "behavior": "MergedWithNext", "invert": false},
                  {"type": "Split", "pattern": {"Regex": "\\\\p{L}+"}, "behavior": "Isolated", "invert": true},
                  {"type": "Split", "pattern": {"Regex": "b"}, "behavior": "Contiguous", "invert": false},
                  {"type": "Digits", "individual_digits": true},
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}""")));
        compare(shared(), "split-removed", root -> root.set("pre_tokenizer", json("""
                {"type": "Sequence", "pretokenizers": [
                  {"type": "Split", "pattern": {"Regex": "\\\\s+"}, "behavior": "Removed", "invert": false},
                  {"type": "Digits", "individual_digits": false},
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}""")));
    }

    @Test
    void ignoreMergesStringMergesAndNormalizers() throws IOException {
        compare(shared(), "ignore-merges", root -> {
            ((ObjectNode) root.get("model")).put("ignore_merges", true);
            ArrayNode strings = JSON.createArrayNode();
            root.get("model").get("merges").forEach(m -> strings.add(m.get(0).asText() + " " + m.get(1).asText()));
            ((ObjectNode) root.get("model")).set("merges", strings);
            root.set("normalizer", json("""
                    {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": true, "strip_right": true},
                      {"type": "Lowercase"}, {"type": "Replace", "pattern": {"Regex": "\\\\d+"}, "content": "#"}]}"""));
        });
    }

    @Test
    void metaspaceFirstWithoutSplit() throws IOException {
        compare(llama2(), "metaspace-first", root -> {
            root.putNull("normalizer");
            root.set("pre_tokenizer", json("{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"first\", \"split\": false}"));
            root.set("decoder", json("{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"first\", \"split\": false}"));
        });
    }

    @Test
    void metaspaceAlwaysWithSplit() throws IOException {
        compare(llama2(), "metaspace-always", root -> {
            root.putNull("normalizer");
            root.set("pre_tokenizer", json("{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"always\", \"split\": true}"));
            root.set("decoder", json("{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"always\", \"split\": true}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]}"));
        });
    }
}
