package io.moeprune.runtime;

import java.util.Arrays;
import java.util.List;

/**
 * The prompts of several sequences prefilled at once (the server's admissions of one turn): each sequence's
 * attention runs over its own rows and cache, as {@link Model#forward} runs it, and each layer's feed-forward block
 * runs ONCE over all the prompts' rows, so a routed expert that several prompts choose is read once, not once per
 * prompt. Prompts of a dozen tokens each choose nearly every expert of a 64-expert, top-8 layer: prefilled one after
 * another, 32 admitted requests read every expert 32 times, about as much as 32 batched decode steps (issue 21).
 * All sequences must route with the same mask. Only the last token's logits of each prompt are made.
 *
 * <p>The floats are those of each prefill alone except where a product over more rows sums in another order
 * ({@code BatchedPrefillTest} measures it, as {@code BatchedDecodeTest} does for {@link BatchedDecode}).
 */
public final class BatchedPrefill {
    private BatchedPrefill() {
    }

    /**
     * Runs {@code prompts.get(i)} at the next positions of {@code states.get(i)}, advances every state, and returns
     * each sequence's logits [vocab] after its prompt's last token.
     */
    public static float[][] run(Model model, List<int[]> prompts, List<InferenceState> states) {
        int b = prompts.size();
        if (b != states.size() || b == 0) throw new IllegalArgumentException(b + " prompts for " + states.size() + " states");
        ForwardContext context = states.getFirst().context();
        for (int i = 0; i < b; i++) {
            if (prompts.get(i).length == 0) throw new IllegalArgumentException("an empty prompt");
            ForwardContext c = states.get(i).context();
            if (c.mask() != context.mask()) throw new IllegalArgumentException("a batch routes with one mask");
            if (c.observer() != null) throw new IllegalArgumentException("a batched prefill has no observer");
        }
        try {
            return prefill(model, prompts, states, context);
        } catch (InternalError e) {
            throw model.mappedReadFault(e);
        }
    }

    private static float[][] prefill(Model model, List<int[]> prompts, List<InferenceState> states,
                                     ForwardContext context) {
        model.checkShards();
        int b = prompts.size(), hidden = model.spec().hiddenSize();
        int[] first = new int[b + 1];  // sequence i's rows are [first[i], first[i + 1])
        for (int i = 0; i < b; i++) first[i + 1] = first[i] + prompts.get(i).length;
        int n = first[b];
        float[] x = new float[n * hidden];
        for (int i = 0; i < b; i++) {
            float[] e = model.embed(prompts.get(i), states.get(i).position());
            System.arraycopy(e, 0, x, first[i] * hidden, e.length);
        }
        List<DecoderLayer> layers = model.layers();
        for (int l = 0; l < layers.size(); l++) {
            for (int i = 0; i < b; i++) {
                int len = first[i + 1] - first[i];
                float[] rows = Arrays.copyOfRange(x, first[i] * hidden, first[i + 1] * hidden);
                layers.get(l).attend(rows, len, states.get(i).position(), states.get(i).cache());
                System.arraycopy(rows, 0, x, first[i] * hidden, rows.length);
            }
            model.feedForwardLayer(l, x, n, context);
        }
        float[] last = new float[b * hidden];
        for (int i = 0; i < b; i++) {
            System.arraycopy(x, (first[i + 1] - 1) * hidden, last, i * hidden, hidden);
            states.get(i).advance(prompts.get(i).length);
        }
        float[] logits = model.logits(last, b, 0, true);
        int vocab = logits.length / b;
        float[][] out = new float[b][];
        for (int i = 0; i < b; i++) out[i] = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
        return out;
    }
}
