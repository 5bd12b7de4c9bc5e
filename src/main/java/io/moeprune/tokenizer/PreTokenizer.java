package io.moeprune.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The "pre_tokenizer" of tokenizer.json: cuts normalized text into words that BPE then encodes one by one.
 * Byte-level pre-tokenizers also rewrite each word into the byte alphabet ({@link ByteLevelAlphabet}).
 */
interface PreTokenizer {
    /** Appends the pieces of {@code piece} to {@code out} (empty pieces are dropped). */
    void split(Piece piece, List<Piece> out);

    /**
     * This pre-tokenizer without its final byte-alphabet rewrite, or null when it does not end with ByteLevel.
     * The tokenizer then rewrites a word only when it misses the word cache (most words hit it).
     */
    default PreTokenizer withoutFinalByteMapping() {
        return null;
    }

    PreTokenizer NONE = (piece, out) -> {
        if (!piece.text().isEmpty()) {
            out.add(piece);
        }
    };

    /** GPT-2's pattern, used by ByteLevel when use_regex is true. */
    String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    static PreTokenizer fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return NONE;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode n : node.path("pretokenizers")) {
                    steps.add(fromJson(n));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "Split" -> new Split(TextNormalizer.TextPattern.fromJson(node.path("pattern")),
                    Behavior.fromJson(node.path("behavior").asText("Isolated")), node.path("invert").asBoolean(false));
            case "ByteLevel" -> new ByteLevel(node.path("add_prefix_space").asBoolean(true),
                    node.path("use_regex").asBoolean(true));
            case "Metaspace" -> Metaspace.fromJson(node);
            case "Digits" -> new Digits(node.path("individual_digits").asBoolean(false));
            case "WhitespaceSplit" -> new Split(new TextNormalizer.TextPattern(null, OnigRegex.compile("\\s+")),
                    Behavior.REMOVED, false);
            case "Whitespace" -> new Split(new TextNormalizer.TextPattern(null, OnigRegex.compile("\\w+|[^\\w\\s]+")),
                    Behavior.REMOVED, true);
            default -> throw new IllegalArgumentException("unsupported pre_tokenizer type " + type);
        };
    }

    /** What a split does with the matched delimiters (tokenizers' SplitDelimiterBehavior). */
    enum Behavior {
        REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

        static Behavior fromJson(String name) {
            return switch (name) {
                case "Removed" -> REMOVED;
                case "Isolated" -> ISOLATED;
                case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
                case "MergedWithNext" -> MERGED_WITH_NEXT;
                case "Contiguous" -> CONTIGUOUS;
                default -> throw new IllegalArgumentException("unsupported split behavior " + name.toLowerCase(Locale.ROOT));
            };
        }
    }

    /**
     * Cuts {@code piece} at the given matches ([start, end) in order) as tokenizers does: the text is first
     * divided into alternating match / non-match ranges, then {@code behavior} decides what to keep or merge.
     */
    static void splitAt(Piece piece, List<int[]> matches, Behavior behavior, boolean invert, List<Piece> out) {
        String text = piece.text();
        if (text.isEmpty()) {
            return;
        }
        // ranges: start, end, isMatch (0/1)
        List<int[]> ranges = new ArrayList<>(matches.size() * 2 + 1);
        int prev = 0;
        for (int[] m : matches) {
            if (prev != m[0]) {
                ranges.add(new int[] {prev, m[0], invert ? 1 : 0});
            }
            ranges.add(new int[] {m[0], m[1], invert ? 0 : 1});
            prev = m[1];
        }
        if (prev != text.length()) {
            ranges.add(new int[] {prev, text.length(), invert ? 1 : 0});
        }
        List<int[]> kept = new ArrayList<>(ranges.size());
        switch (behavior) {
            case ISOLATED -> kept = ranges;
            case REMOVED -> {
                for (int[] r : ranges) {
                    if (r[2] == 0) {
                        kept.add(r);
                    }
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (int[] r : ranges) {
                    if (r[2] == 1 && !previousMatch && !kept.isEmpty()) {
                        kept.getLast()[1] = r[1];
                    } else {
                        kept.add(r);
                    }
                    previousMatch = r[2] == 1;
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean previousMatch = false;
                List<int[]> reversed = new ArrayList<>(ranges.size());
                for (int i = ranges.size() - 1; i >= 0; i--) {
                    int[] r = ranges.get(i);
                    if (r[2] == 1 && !previousMatch && !reversed.isEmpty()) {
                        reversed.getLast()[0] = r[0];
                    } else {
                        reversed.add(r);
                    }
                    previousMatch = r[2] == 1;
                }
                kept = reversed.reversed();
            }
            case CONTIGUOUS -> {
                boolean previousMatch = false;
                for (int[] r : ranges) {
                    if ((r[2] == 1) == previousMatch && !kept.isEmpty()) {
                        kept.getLast()[1] = r[1];
                    } else {
                        kept.add(r);
                    }
                    previousMatch = r[2] == 1;
                }
            }
        }
        for (int[] r : kept) {
            if (r[1] > r[0]) {
                out.add(new Piece(text.substring(r[0], r[1]), piece.atStart() && r[0] == 0));
            }
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public void split(Piece piece, List<Piece> out) {
            List<Piece> current = List.of(piece);
            for (PreTokenizer step : steps) {
                List<Piece> next = new ArrayList<>(current.size() * 2);
                for (Piece p : current) {
                    step.split(p, next);
                }
                current = next;
            }
            out.addAll(current);
        }

        @Override
        public PreTokenizer withoutFinalByteMapping() {
            if (steps.isEmpty()) {
                return null;
            }
            PreTokenizer last = steps.getLast().withoutFinalByteMapping();
            if (last == null) {
                return null;
            }
            List<PreTokenizer> changed = new ArrayList<>(steps);
            changed.set(changed.size() - 1, last);
            return new Sequence(List.copyOf(changed));
        }
    }

    record Split(TextNormalizer.TextPattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(Piece piece, List<Piece> out) {
            if (behavior == Behavior.ISOLATED && !invert && pattern.regex() != null) {
                isolate(piece, pattern.regex(), out);
            } else {
                splitAt(piece, pattern.matches(piece.text()), behavior, invert, out);
            }
        }
    }

    /**
     * Each match of {@code regex} and each stretch between matches becomes a piece (the "Isolated" behavior,
     * the common case, without building range lists).
     */
    static void isolate(Piece piece, Pattern regex, List<Piece> out) {
        String text = piece.text();
        Matcher m = regex.matcher(text);
        int prev = 0;
        boolean atStart = piece.atStart();
        while (m.find()) {
            int start = m.start();
            int end = m.end();
            if (start > prev) {
                out.add(new Piece(text.substring(prev, start), atStart && prev == 0));
            }
            if (end > start) {
                out.add(new Piece(text.substring(start, end), atStart && start == 0));
            }
            prev = end;
        }
        if (prev < text.length()) {
            out.add(new Piece(prev == 0 ? text : text.substring(prev), atStart && prev == 0));
        }
    }

    /**
     * GPT-2 style: optional leading space, optional GPT-2 regex split, then the byte alphabet (unless
     * {@code mapBytes} is off because the tokenizer maps words itself).
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex, boolean mapBytes, Pattern regex) implements PreTokenizer {
        ByteLevel(boolean addPrefixSpace, boolean useRegex) {
            this(addPrefixSpace, useRegex, true, useRegex ? OnigRegex.compile(GPT2_PATTERN) : null);
        }

        @Override
        public PreTokenizer withoutFinalByteMapping() {
            return new ByteLevel(addPrefixSpace, useRegex, false, regex);
        }

        @Override
        public void split(Piece piece, List<Piece> out) {
            String text = piece.text();
            if (text.isEmpty()) {
                return;
            }
            if (addPrefixSpace && text.charAt(0) != ' ') {
                piece = new Piece(" " + text, piece.atStart());
            }
            if (!mapBytes) {
                if (useRegex) {
                    isolate(piece, regex, out);
                } else {
                    out.add(piece);
                }
                return;
            }
            List<Piece> words = new ArrayList<>();
            if (useRegex) {
                isolate(piece, regex, words);
            } else {
                words.add(piece);
            }
            for (Piece w : words) {
                out.add(new Piece(ByteLevelAlphabet.encode(w.text()), w.atStart()));
            }
        }
    }

    /** SentencePiece style: spaces become '▁', a '▁' is prepended, and words start at each '▁'. */
    record Metaspace(String replacement, String prependScheme, boolean splitWords) implements PreTokenizer {
        static Metaspace fromJson(JsonNode node) {
            String replacement = node.path("replacement").asText("\u2581");
            String scheme;
            if (node.has("prepend_scheme")) {
                scheme = node.get("prepend_scheme").asText("always");
            } else {
                scheme = node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
            }
            return new Metaspace(replacement, scheme, node.path("split").asBoolean(true));
        }

        @Override
        public void split(Piece piece, List<Piece> out) {
            String text = piece.text().replace(" ", replacement);
            boolean prepend = switch (prependScheme) {
                case "always" -> true;
                case "first" -> piece.atStart();
                default -> false;
            };
            if (prepend && !text.startsWith(replacement)) {
                text = replacement + text;
            }
            Piece replaced = new Piece(text, piece.atStart());
            if (!splitWords) {
                if (!text.isEmpty()) {
                    out.add(replaced);
                }
                return;
            }
            List<int[]> matches = new TextNormalizer.TextPattern(replacement, null).matches(text);
            splitAt(replaced, matches, Behavior.MERGED_WITH_NEXT, false, out);
        }
    }

    /** Splits digits off, one by one or as runs. */
    record Digits(boolean individual) implements PreTokenizer {
        @Override
        public void split(Piece piece, List<Piece> out) {
            String text = piece.text();
            List<int[]> matches = new ArrayList<>();
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c >= '0' && c <= '9') {
                    matches.add(new int[] {i, i + 1});
                }
            }
            splitAt(piece, matches, individual ? Behavior.ISOLATED : Behavior.CONTIGUOUS, false, out);
        }
    }
}
