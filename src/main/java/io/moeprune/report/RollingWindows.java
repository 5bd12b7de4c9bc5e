package io.moeprune.report;

import java.util.ArrayList;
import java.util.List;

/**
 * How a whole held-out document is scored, as lm-evaluation-harness's perplexity tasks do it (loglikelihood_rolling,
 * context length 1): the predicted tokens (all but the first, which has no prefix) are cut into consecutive pieces of
 * at most {@code window} tokens, each piece is predicted in one forward pass over at most {@code window + 1} tokens
 * that end with it, so every token is predicted exactly once, with as much of its prefix as the window holds (the
 * last piece, usually short, gets a full window of context).
 *
 * <p>Evaluating whole documents rather than their first tokens matters: in a domain whose documents start with the
 * same boilerplate (178 of 200 Java files of the shared test bed open with one licence header) the first 256 tokens
 * are mostly that header, which a model learns by heart, and the loss says little about the domain.
 *
 * @param start first token of the forward pass's input
 * @param end   one past its last token (and past the last token predicted)
 * @param from  index, within the input, of the first token predicted (at least 1)
 */
public record RollingWindows(int start, int end, int from) {

    public static List<RollingWindows> of(int length, int window) {
        if (window < 1) throw new IllegalArgumentException("window " + window);
        List<RollingWindows> out = new ArrayList<>();
        for (int p = 1; p < length; p += window) {
            int e = Math.min(p + window, length), s = Math.max(0, e - window - 1);
            out.add(new RollingWindows(s, e, p - s));
        }
        return out;
    }
}
