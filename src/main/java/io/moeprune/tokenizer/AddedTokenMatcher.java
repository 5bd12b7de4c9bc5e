package io.moeprune.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text the way tokenizers' AddedVocabulary does: leftmost-longest matches, scanning on
 * after each match; single_word tokens only between non-word characters; lstrip / rstrip tokens swallow the
 * whitespace beside them.
 */
final class AddedTokenMatcher {
    /** A stretch of text: {@code tokenId} is the added token's id, or -1 for plain text. */
    record Segment(int start, int end, int tokenId) {
    }

    private final Map<Character, AddedToken[]> byFirstChar = new HashMap<>();
    private final boolean empty;

    AddedTokenMatcher(List<AddedToken> tokens) {
        Map<Character, List<AddedToken>> grouped = new HashMap<>();
        for (AddedToken t : tokens) {
            if (!t.content().isEmpty()) {
                grouped.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
            }
        }
        grouped.forEach((c, list) -> {
            AddedToken[] arr = list.toArray(AddedToken[]::new);
            Arrays.sort(arr, Comparator.comparingInt((AddedToken t) -> t.content().length()).reversed());
            byFirstChar.put(c, arr);
        });
        empty = grouped.isEmpty();
    }

    /** The segments of {@code text}, in order, covering it without gaps. */
    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (empty) {
            out.add(new Segment(0, text.length(), -1));
            return out;
        }
        int startOffset = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            AddedToken[] candidates = byFirstChar.get(text.charAt(i));
            AddedToken match = null;
            if (candidates != null) {
                for (AddedToken t : candidates) {
                    if (text.startsWith(t.content(), i)) {
                        match = t;
                        break;
                    }
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int start = i;
            int stop = i + match.content().length();
            i = stop;
            if (match.singleWord()) {
                boolean startSpace = start == 0 || !isWordChar(text.codePointBefore(start));
                boolean stopSpace = stop == n || !isWordChar(text.codePointAt(stop));
                if (!startSpace || !stopSpace) {
                    // tokenizers' automaton skips this match and resumes after it.
                    continue;
                }
            }
            if (match.lstrip()) {
                int newStart = start;
                while (newStart > 0 && Character.isWhitespace(text.codePointBefore(newStart))) {
                    newStart -= Character.charCount(text.codePointBefore(newStart));
                }
                start = Math.max(newStart, startOffset);
            }
            if (match.rstrip()) {
                while (stop < n && Character.isWhitespace(text.codePointAt(stop))) {
                    stop += Character.charCount(text.codePointAt(stop));
                }
            }
            if (startOffset < start) {
                out.add(new Segment(startOffset, start, -1));
            }
            out.add(new Segment(start, stop, match.id()));
            startOffset = stop;
        }
        if (startOffset < n) {
            out.add(new Segment(startOffset, n, -1));
        }
        return out;
    }

    /** Unicode \w (letters, marks, digits, connector punctuation such as '_'), as tokenizers' word-boundary regexes. */
    private static final java.util.regex.Pattern WORD_CHAR =
            java.util.regex.Pattern.compile("\\w", java.util.regex.Pattern.UNICODE_CHARACTER_CLASS);

    private static boolean isWordChar(int cp) {
        return WORD_CHAR.matcher(Character.toString(cp)).matches();
    }
}
