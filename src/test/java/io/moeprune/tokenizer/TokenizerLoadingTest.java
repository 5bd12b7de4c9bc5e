package io.moeprune.tokenizer;

import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Loading a model directory: eos ids, vocabulary queries, byte fallback, and one-line errors for bad files. */
class TokenizerLoadingTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    @Test
    void sharedModelEosAndVocabulary() {
        assumeTrue(DevTexts.present(), "shared model absent");
        Tokenizer t = Tokenizers.load(DevTexts.TINY_MODEL);
        assertEquals(List.of(0), t.eosIds());
        assertEquals(8192, t.vocabSize());
        assertEquals(0, t.tokenId("<|endoftext|>").getAsInt());
        assertEquals(2, t.tokenId("<|im_end|>").getAsInt());
        assertFalse(t.tokenId("no such token").isPresent());
        int[] ids = t.encode("<|im_start|>user\nHi<|im_end|>");
        assertEquals(1, ids[0]);
        assertEquals(2, ids[ids.length - 1]);
        assertEquals("user\nHi", t.decode(ids, true));
        assertEquals("<|im_start|>user\nHi<|im_end|>", t.decode(ids, false));
    }

    @Test
    void eosIdsFromGenerationConfigListThenConfigThenTokenizerConfig() throws IOException {
        write("tokenizer.json", ChatTemplateTest.MINIMAL_TOKENIZER);
        write("tokenizer_config.json", "{\"eos_token\": {\"content\": \"<|im_end|>\", \"__type\": \"AddedToken\"}}");
        assertEquals(List.of(3), Tokenizers.load(dir).eosIds());
        write("config.json", "{\"text_config\": {\"eos_token_id\": 1}}");
        assertEquals(List.of(1), Tokenizers.load(dir).eosIds());
        write("config.json", "{\"eos_token_id\": 2}");
        assertEquals(List.of(2), Tokenizers.load(dir).eosIds());
        write("generation_config.json", "{\"eos_token_id\": [3, 0, 3]}");
        assertEquals(List.of(3, 0), Tokenizers.load(dir).eosIds());
    }

    @Test
    void byteFallbackAndUnknownTokens() throws IOException {
        StringBuilder vocab = new StringBuilder("{\"<unk>\": 0, \"\u2581\": 1, \"a\": 2, \"\u2581a\": 3");
        for (int b = 0; b < 256; b++) {
            vocab.append(String.format(", \"<0x%02X>\": %d", b, 4 + b));
        }
        vocab.append('}');
        String json = """
                {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
                 "pre_tokenizer": null,
                 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                   {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                 "added_tokens": [{"id": 0, "content": "<unk>", "special": true, "normalized": false}],
                 "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": BF,
                   "vocab": VOCAB, "merges": [["\u2581", "a"]]}}""".replace("VOCAB", vocab);
        Tokenizer withFallback = Tokenizers.fromTokenizerJson(write("bf.json", json.replace("BF", "true")));
        // "é" is not in the vocabulary: its two UTF-8 bytes become <0xC3> <0xA9>.
        assertArrayEquals(new int[] {3, 4 + 0xC3, 4 + 0xA9, 2}, withFallback.encode("a\u00e9a"));
        assertEquals("a\u00e9a", withFallback.decode(withFallback.encode("a\u00e9a"), false));
        // A lone continuation byte decodes to U+FFFD, as tokenizers does.
        assertEquals("a\uFFFD", withFallback.decode(new int[] {3, 4 + 0xA9}, false));
        Tokenizer withoutFallback = Tokenizers.fromTokenizerJson(write("unk.json", json.replace("BF", "false")));
        // Without byte fallback unknown characters become <unk>, consecutive ones fused.
        assertArrayEquals(new int[] {3, 0, 2}, withoutFallback.encode("a\u00e9\u00e8a"));
    }

    @Test
    void missingTokenizerJsonIsAOneLineError() {
        MoepruneException e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json") + ": not found"), e.getMessage());
    }

    @Test
    void invalidJsonIsAOneLineError() throws IOException {
        write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,}");
        MoepruneException e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json: not valid JSON"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void unsupportedPartsAreNamed() throws IOException {
        write("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        MoepruneException e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains("unsupported tokenizer model type Unigram"), e.getMessage());
        write("tokenizer.json", ChatTemplateTest.MINIMAL_TOKENIZER.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"Precompiled\"}"));
        e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains("unsupported normalizer type Precompiled"), e.getMessage());
        write("tokenizer.json", ChatTemplateTest.MINIMAL_TOKENIZER.replace("[\"a b\"]", "[\"a c\"]"));
        e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains("merge \"a c\" uses a token missing from the vocabulary"), e.getMessage());
    }

    /** The one-line error that loading a tokenizer.json edited from the minimal one gives. */
    private String refusal(String from, String to) throws IOException {
        String json = ChatTemplateTest.MINIMAL_TOKENIZER.replace(from, to);
        assertFalse(json.equals(ChatTemplateTest.MINIMAL_TOKENIZER), "the edit applies");
        write("tokenizer.json", json);
        MoepruneException e = assertThrows(MoepruneException.class, () -> Tokenizers.load(dir));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json") + ": "), e.getMessage());
        return e.getMessage().substring(dir.resolve("tokenizer.json").toString().length() + 2);
    }

    @Test
    void hostileIdsAndMergesAreOneLineErrors() throws IOException {
        assertEquals("vocabulary entry \"b\" has id -1; ids are integers from 0 to 16777215", refusal("\"b\": 1", "\"b\": -1"));
        assertEquals("vocabulary entry \"b\" has id 2147483647; ids are integers from 0 to 16777215",
                refusal("\"b\": 1", "\"b\": 2147483647"));
        assertEquals("vocabulary entry \"b\" has id 1e3; ids are integers from 0 to 16777215", refusal("\"b\": 1", "\"b\": 1e3"));
        assertEquals("vocabulary gives id 0 to both \"a\" and \"b\"", refusal("\"b\": 1", "\"b\": 0"));
        assertEquals("added token \"<|im_end|>\" has id 99999999999; ids are integers from 0 to 16777215",
                refusal("\"id\": 3", "\"id\": 99999999999"));
        assertEquals("added token 3 has no content string", refusal("\"content\": \"<|im_end|>\"", "\"content\": 7"));
        assertEquals("merge \"a?b\" is not two tokens separated by one space", refusal("[\"a b\"]", "[\"a\\nb\"]"));
    }

    @Test
    void onigurumaPatternsTranslate() {
        // A bare '[' and '&&' inside a class are literals in Oniguruma.
        assertEquals("[\\[a\\&\\&b]", OnigRegex.translate("[[a&&b]"));
        assertEquals("\\P{L}", OnigRegex.translate("\\p{^L}"));
        assertEquals("[\\]x]", OnigRegex.translate("[]x]"));
        Pattern deepSeek = OnigRegex.compile("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+");
        assertTrue(deepSeek.matcher("&amp").matches());
        assertTrue(deepSeek.matcher("[x").matches());
        // \s is Unicode-aware (NBSP, ideographic space) and (?i:) folds Unicode case, as in Oniguruma.
        assertTrue(OnigRegex.compile("\\s+").matcher("\u00a0\u3000").matches());
        assertTrue(OnigRegex.compile("(?i:'s)").matcher("'\u017f").matches());
    }
}
