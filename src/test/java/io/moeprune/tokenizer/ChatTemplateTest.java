package io.moeprune.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moeprune.MoepruneException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Chat templates rendered with jinjava against Jinja2 renderings made the way transformers makes them
 * (src/test/resources/chat-templates/expected.json, written by generate_expected.py there).
 */
class ChatTemplateTest {
    private static final Path DIR = Path.of("src/test/resources/chat-templates");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** A model directory with the shared tokenizer.json (any would do) and the given template. */
    private BpeTokenizer withTemplate(String templateText, String tokenizerConfig) throws IOException {
        Path model = tmp.resolve("model" + System.nanoTime());
        Files.createDirectories(model);
        Files.writeString(model.resolve("tokenizer.json"), MINIMAL_TOKENIZER);
        if (templateText != null) {
            Files.writeString(model.resolve("chat_template.jinja"), templateText);
        }
        if (tokenizerConfig != null) {
            Files.writeString(model.resolve("tokenizer_config.json"), tokenizerConfig);
        }
        return (BpeTokenizer) Tokenizers.load(model);
    }

    static final String MINIMAL_TOKENIZER = """
            {"version": "1.0", "added_tokens": [{"id": 3, "content": "<|im_end|>", "special": true, "normalized": false}],
             "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
            """;

    private String template(String name) throws IOException {
        if (name.equals("shared")) {
            Path p = DevTexts.TINY_MODEL.resolve("chat_template.jinja");
            assumeTrue(Files.isRegularFile(p), "shared model absent");
            return Files.readString(p);
        }
        if (name.startsWith("cache:")) {
            Path p = FamilyTokenizersTest.CACHE.resolve(name.substring(6)).resolve("tokenizer_config.json");
            assumeTrue(Files.isRegularFile(p), name + " absent (run scripts/test-setup.sh)");
            return JSON.readTree(p.toFile()).path("chat_template").asText();
        }
        return Files.readString(DIR.resolve(name));
    }

    private String config(String name) throws IOException {
        if (name.startsWith("cache:")) {
            return Files.readString(FamilyTokenizersTest.CACHE.resolve(name.substring(6)).resolve("tokenizer_config.json"));
        }
        if (name.equals("shared")) {
            return Files.readString(DevTexts.TINY_MODEL.resolve("tokenizer_config.json"));
        }
        return "{\"bos_token\": \"\", \"eos_token\": \"<|im_end|>\"}";
    }

    @Test
    void rendersLikeTransformers() throws IOException {
        JsonNode cases = JSON.readTree(DIR.resolve("expected.json").toFile());
        int rendered = 0;
        for (JsonNode c : cases) {
            String name = c.path("template").asText();
            if ((name.startsWith("cache:") && !Files.isDirectory(FamilyTokenizersTest.CACHE.resolve(name.substring(6))))
                    || (name.equals("shared") && !DevTexts.present())) {
                System.out.println("chat template case skipped: " + name + " absent");
                continue;
            }
            // The template travels in tokenizer_config.json (as real Qwen3/DeepSeek checkpoints ship it) or in
            // chat_template.jinja (as the shared model does).
            BpeTokenizer tok = name.startsWith("cache:") ? withTemplate(null, config(name)) : withTemplate(template(name), config(name));
            List<Map<String, Object>> messages = JSON.convertValue(c.path("messages"), new TypeReference<>() {
            });
            Map<String, Object> extra = JSON.convertValue(c.path("extra"), new TypeReference<>() {
            });
            boolean gen = c.path("add_generation_prompt").asBoolean();
            String label = name + " " + c.path("messages").size() + " messages";
            if (c.has("error")) {
                MoepruneException e = assertThrows(MoepruneException.class, () -> tok.applyChatTemplate(messages, gen, extra), label);
                assertTrue(e.getMessage().contains(c.path("error").asText()), label + ": " + e.getMessage());
            } else {
                assertEquals(c.path("expected").asText(), tok.applyChatTemplate(messages, gen, extra), label);
            }
            rendered++;
        }
        System.out.println(rendered + " chat template cases rendered as transformers renders them");
    }

    @Test
    void publicInterfaceRendersSharedTemplate() throws IOException {
        Tokenizer tok = withTemplate(template("qwen3-style.jinja"), null);
        String out = tok.applyChatTemplate(List.of(Map.of("role", "user", "content", "Hi")), true);
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", out);
    }

    @Test
    void missingTemplateIsAOneLineError() throws IOException {
        Tokenizer tok = withTemplate(null, null);
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> tok.applyChatTemplate(List.of(Map.of("role", "user", "content", "Hi")), true));
        assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
    }

    @Test
    void templateSyntaxErrorNamesTheFile() throws IOException {
        Tokenizer tok = withTemplate("{% for m in messages %}{{ m.content }", null);
        MoepruneException e = assertThrows(MoepruneException.class,
                () -> tok.applyChatTemplate(List.of(Map.of("role", "user", "content", "Hi")), true));
        assertTrue(e.getMessage().contains("chat_template.jinja"), e.getMessage());
    }

    @Test
    void namespaceArgumentsAreParenthesised() {
        assertEquals("{% set ns = namespace(a=(messages|length - 1), b=('x,y'), c=([1, 2])) %}",
                JinjaCompat.rewrite("{% set ns = namespace(a=messages|length - 1, b='x,y', c=[1, 2]) %}"));
        assertEquals("{% for m in messages|reverse %}", JinjaCompat.rewrite("{% for m in messages[::-1] %}"));
        assertEquals("{% if add_generation_prompt is not defined %}{% if m['x'] is none %}",
                JinjaCompat.rewrite("{% if not add_generation_prompt is defined %}{% if not m['x'] is not none %}"));
    }
}
