package io.moeprune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The "normalizer" of tokenizer.json: rewrites each stretch of text between added tokens before splitting. */
interface TextNormalizer {
    String normalize(String text);

    TextNormalizer IDENTITY = text -> text;

    static TextNormalizer fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return IDENTITY;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "NFC" -> new Unicode(Normalizer.Form.NFC);
            case "NFD" -> new Unicode(Normalizer.Form.NFD);
            case "NFKC" -> new Unicode(Normalizer.Form.NFKC);
            case "NFKD" -> new Unicode(Normalizer.Form.NFKD);
            case "Lowercase" -> text -> text.toLowerCase(Locale.ROOT);
            case "Prepend" -> new Prepend(node.path("prepend").asText());
            case "Replace" -> new Replace(TextPattern.fromJson(node.path("pattern")), node.path("content").asText());
            case "Strip" -> new Strip(node.path("strip_left").asBoolean(false), node.path("strip_right").asBoolean(false));
            case "Sequence" -> {
                List<TextNormalizer> steps = new ArrayList<>();
                for (JsonNode n : node.path("normalizers")) {
                    steps.add(fromJson(n));
                }
                yield steps.isEmpty() ? IDENTITY : new Sequence(List.copyOf(steps));
            }
            default -> throw new IllegalArgumentException("unsupported normalizer type " + type);
        };
    }

    record Unicode(Normalizer.Form form) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            // isNormalized is a fast scan; most text is already NFC.
            return Normalizer.isNormalized(text, form) ? text : Normalizer.normalize(text, form);
        }
    }

    record Prepend(String prefix) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    record Replace(TextPattern pattern, String content) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            return pattern.replaceAll(text, content);
        }
    }

    record Strip(boolean left, boolean right) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            int start = 0;
            int end = text.length();
            while (left && start < end && Character.isWhitespace(text.codePointAt(start))) {
                start += Character.charCount(text.codePointAt(start));
            }
            while (right && end > start && Character.isWhitespace(text.codePointBefore(end))) {
                end -= Character.charCount(text.codePointBefore(end));
            }
            return text.substring(start, end);
        }
    }

    record Sequence(List<TextNormalizer> steps) implements TextNormalizer {
        @Override
        public String normalize(String text) {
            for (TextNormalizer step : steps) {
                text = step.normalize(text);
            }
            return text;
        }
    }

    /** A "pattern" object of tokenizer.json: {"String": literal} or {"Regex": oniguruma pattern}. */
    record TextPattern(String literal, Pattern regex) {
        static TextPattern fromJson(JsonNode node) {
            if (node.has("String")) {
                return new TextPattern(node.get("String").asText(), null);
            }
            if (node.has("Regex")) {
                return new TextPattern(null, OnigRegex.compile(node.get("Regex").asText()));
            }
            throw new IllegalArgumentException("pattern is neither String nor Regex: " + node);
        }

        String replaceAll(String text, String content) {
            return literal != null ? text.replace(literal, content)
                    : regex.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }

        /** [start, end) pairs of each match, in order. */
        List<int[]> matches(String text) {
            List<int[]> found = new ArrayList<>();
            if (literal != null) {
                if (literal.isEmpty()) {
                    return found;
                }
                for (int i = text.indexOf(literal); i >= 0; i = text.indexOf(literal, i + literal.length())) {
                    found.add(new int[] {i, i + literal.length()});
                }
            } else {
                Matcher m = regex.matcher(text);
                while (m.find()) {
                    found.add(new int[] {m.start(), m.end()});
                }
            }
            return found;
        }
    }
}
