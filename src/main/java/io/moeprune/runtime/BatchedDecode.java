package io.moeprune.runtime;

import java.util.Arrays;
import java.util.List;

/**
 * One decode step for several sequences at once (continuous batching): each sequence has its own
 * {@link InferenceState} (KV cache, position) and adds one token. The embeddings and the attention itself run per
 * sequence (their caches differ), but the attention's projections (multi-head / grouped-query attention:
 * {@link AttentionLayer#forwardRows}) and each layer's feed-forward block run ONCE over all the rows, so they, a
 * routed expert chosen by several sequences, the router, the shared expert and a dense MLP are read once per step,
 * and so is the LM head. All sequences must route with the same mask (one expert set per batch).
 *
 * <p>The floats are those of decoding each sequence alone except where a product over several rows sums in another
 * order than over one row (the batched kernels); {@code BatchedDecodeTest} measures the difference.
 */
public final class BatchedDecode {
    private BatchedDecode() {
    }

    /**
     * Runs {@code tokens[i]} at the next position of {@code states.get(i)}, advances every state, and returns each
     * sequence's logits [vocab] after its token.
     */
    public static float[][] step(Model model, int[] tokens, List<InferenceState> states) {
        int n = tokens.length;
        if (n != states.size() || n == 0) throw new IllegalArgumentException(n + " tokens for " + states.size() + " states");
        ForwardContext context = states.getFirst().context();
        for (InferenceState s : states) {
            if (s.context().mask() != context.mask()) throw new IllegalArgumentException("a batch routes with one mask");
            if (s.context().observer() != null) throw new IllegalArgumentException("a batched step has no observer");
        }
        try {
            return run(model, tokens, states, context);
        } catch (InternalError e) {
            throw model.mappedReadFault(e);
        }
    }

    private static float[][] run(Model model, int[] tokens, List<InferenceState> states, ForwardContext context) {
        model.checkShards();
        int n = tokens.length, hidden = model.spec().hiddenSize();
        float[] batch = new float[n * hidden];
        int[] positions = new int[n];
        KvCache[] caches = new KvCache[n];
        for (int i = 0; i < n; i++) {
            positions[i] = states.get(i).position();
            caches[i] = states.get(i).cache();
            System.arraycopy(model.embed(new int[]{tokens[i]}, positions[i]), 0, batch, i * hidden, hidden);
        }
        List<DecoderLayer> layers = model.layers();
        for (int l = 0; l < layers.size(); l++) {
            layers.get(l).attendRows(batch, n, positions, caches);
            model.feedForwardLayer(l, batch, n, context);
        }
        for (InferenceState s : states) s.advance(1);
        float[] logits = model.logits(batch, n, 0, true);
        int vocab = logits.length / n;
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) out[i] = Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
        return out;
    }
}
