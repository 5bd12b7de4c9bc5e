package io.moeprune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The "decoder" of tokenizer.json: turns token strings back into text. Like tokenizers' decode_chain, each step
 * maps a list of token strings to a new list; the result is their concatenation.
 */
interface TokenDecoder {
    List<String> decodeChain(List<String> tokens);

    default String decode(List<String> tokens) {
        return String.join("", decodeChain(tokens));
    }

    /** Without a decoder tokenizers joins tokens with spaces. */
    TokenDecoder NONE = new TokenDecoder() {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return tokens;
        }

        @Override
        public String decode(List<String> tokens) {
            return String.join(" ", tokens);
        }
    };

    static TokenDecoder fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return NONE;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new ByteLevel();
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> tokens -> List.of(String.join("", tokens));
            case "Replace" -> {
                TextNormalizer.TextPattern pattern = TextNormalizer.TextPattern.fromJson(node.path("pattern"));
                String content = node.path("content").asText();
                yield tokens -> tokens.stream().map(t -> pattern.replaceAll(t, content)).toList();
            }
            case "Strip" -> new Strip(node.path("content").asText(" ").codePointAt(0), node.path("start").asInt(0),
                    node.path("stop").asInt(0));
            case "Metaspace" -> {
                PreTokenizer.Metaspace m = PreTokenizer.Metaspace.fromJson(node);
                yield new Metaspace(m.replacement(), !m.prependScheme().equals("never"));
            }
            case "Sequence" -> {
                List<TokenDecoder> steps = new ArrayList<>();
                for (JsonNode n : node.path("decoders")) {
                    steps.add(fromJson(n));
                }
                yield tokens -> {
                    List<String> current = tokens;
                    for (TokenDecoder step : steps) {
                        current = step.decodeChain(current);
                    }
                    return current;
                };
            }
            default -> throw new IllegalArgumentException("unsupported decoder type " + type);
        };
    }

    /** Replaces invalid UTF-8 with U+FFFD, like Rust's String::from_utf8_lossy. */
    static String lossyUtf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** Byte alphabet back to bytes; a token with a character outside the alphabet contributes its own UTF-8. */
    final class ByteLevel implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String t : tokens) {
                byte[] mapped = new byte[t.length()];
                boolean ok = true;
                for (int i = 0; i < t.length(); i++) {
                    int b = ByteLevelAlphabet.byteOf(t.charAt(i));
                    if (b < 0) {
                        ok = false;
                        break;
                    }
                    mapped[i] = (byte) b;
                }
                bytes.writeBytes(ok ? mapped : t.getBytes(StandardCharsets.UTF_8));
            }
            return List.of(lossyUtf8(bytes.toByteArray()));
        }
    }

    /** Runs of &lt;0xXX&gt; tokens become the text they encode (or one U+FFFD per byte when not valid UTF-8). */
    final class ByteFallback implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            for (String t : tokens) {
                int b = byteToken(t);
                if (b >= 0) {
                    pending.write(b);
                    continue;
                }
                flush(pending, out);
                out.add(t);
            }
            flush(pending, out);
            return out;
        }

        private static int byteToken(String t) {
            if (t.length() == 6 && t.startsWith("<0x") && t.charAt(5) == '>') {
                try {
                    return Integer.parseInt(t.substring(3, 5), 16);
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
            return -1;
        }

        private static void flush(ByteArrayOutputStream pending, List<String> out) {
            if (pending.size() == 0) {
                return;
            }
            byte[] bytes = pending.toByteArray();
            pending.reset();
            try {
                out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString());
            } catch (CharacterCodingException e) {
                for (int i = 0; i < bytes.length; i++) {
                    out.add("\uFFFD");
                }
            }
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    record Strip(int content, int start, int stop) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                int[] cps = t.codePoints().toArray();
                int from = 0;
                for (int i = 0; i < Math.min(start, cps.length) && cps[i] == content; i++) {
                    from = i + 1;
                }
                int to = cps.length;
                for (int i = 0; i < stop && cps.length - i - 1 >= from; i++) {
                    int index = cps.length - i - 1;
                    if (cps[index] != content) {
                        break;
                    }
                    to = index;
                }
                out.add(new String(cps, from, Math.max(0, to - from)));
            }
            return out;
        }
    }

    /**
     * '▁' back to spaces; when a '▁' was prepended, every '▁' of the first token is dropped (as tokenizers
     * does, so a first token of several '▁' vanishes).
     */
    record Metaspace(String replacement, boolean stripFirst) implements TokenDecoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(tokens.get(i).replace(replacement, i == 0 && stripFirst ? "" : " "));
            }
            return out;
        }
    }
}
