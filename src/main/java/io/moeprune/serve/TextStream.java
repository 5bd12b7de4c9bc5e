package io.moeprune.serve;

import io.moeprune.tokenizer.Tokenizer;

import java.util.List;

/**
 * One request's generated tokens turned into text as they come: each token hands out the text that became safe to
 * send, never inside a multi-byte character and never the start of a stop string; a stop string ends the text.
 */
final class TextStream {
    private final Tokenizer tokenizer;
    private final List<String> stops;
    private final int holdBack;
    private int[] tokens = new int[16];
    private int count;
    private int sent;
    private String text = "";
    private boolean stopped;

    TextStream(Tokenizer tokenizer, List<String> stops) {
        this.tokenizer = tokenizer;
        this.stops = stops;
        // Text that could still become a stop string is held back until the next token decides.
        this.holdBack = stops.stream().mapToInt(String::length).max().orElse(1) - 1;
    }

    /** Adds a token; returns the new text ready to send (may be empty). */
    String add(int token) {
        if (count == tokens.length) tokens = java.util.Arrays.copyOf(tokens, 2 * count);
        tokens[count++] = token;
        String decoded = tokenizer.decode(java.util.Arrays.copyOf(tokens, count), true);
        if (decoded.endsWith("\uFFFD")) return "";  // a multi-byte character not complete yet
        int cut = firstStop(decoded);
        if (cut >= 0) {
            stopped = true;
            decoded = decoded.substring(0, cut);
        }
        text = decoded;
        int ready = stopped ? text.length() : Math.max(sent, text.length() - holdBack);
        if (ready <= sent) return "";
        String piece = text.substring(sent, ready);
        sent = ready;
        return piece;
    }

    /** Whether a stop string appeared (the text ends before it). */
    boolean stopped() {
        return stopped;
    }

    int tokens() {
        return count;
    }

    int lastToken() {
        return tokens[count - 1];
    }

    /** The whole text: up to the stop string, or every token decoded. */
    String text() {
        return stopped ? text : tokenizer.decode(java.util.Arrays.copyOf(tokens, count), true);
    }

    /** What {@link #text} has that was not handed out yet (held back, or an incomplete character at the end). */
    String rest() {
        String all = text();
        return all.length() > sent ? all.substring(sent) : "";
    }

    private int firstStop(String s) {
        int best = -1;
        for (String stop : stops) {
            int i = s.indexOf(stop);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }
}
