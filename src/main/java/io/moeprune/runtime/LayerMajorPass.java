package io.moeprune.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Runs many sequences through a model layer by layer instead of document by document: every sequence passes layer L
 * before any enters layer L+1, so each layer's weights are read once per chunk of sequences whatever their number
 * (document-major, each document read the whole checkpoint again once it no longer fitted in the page cache).
 * Attention state lives for one layer at a time; the residual streams of a chunk's sequences wait in memory between
 * layers. Each sequence runs as the same single batch the document-major {@link Model#forward}
 * would run it as, in the same order within a layer, so logits and everything an observer sees are the same floats.
 *
 * <p>For prefill-only work (calibration, perplexity, choice scoring); generation stays document-major.
 */
public final class LayerMajorPass {
    /** Which logits each sequence's {@link Sink} receives. */
    public enum Logits {
        /** none (calibration needs only what the observers see) */
        NONE,
        /** the last position's [vocab] */
        LAST,
        /** every position's [n, vocab] */
        ALL
    }

    /** Receives each non-empty sequence's logits (null with {@link Logits#NONE}) once it has left the last layer. */
    @FunctionalInterface
    public interface Sink {
        void accept(int sequence, float[] logits);
    }

    private final Model model;
    private final ExpertMask mask;
    private final Logits logits;
    private final long residualBudget;

    /**
     * @param residualBudget bytes the waiting residual streams may take; sequences beyond it run in a further chunk
     *                       (which reads the weights again), at least one sequence per chunk
     */
    public LayerMajorPass(Model model, ExpertMask mask, Logits logits, long residualBudget) {
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.logits = logits;
        this.residualBudget = residualBudget;
    }

    /** A pass whose residual streams may take a quarter of the heap. */
    public LayerMajorPass(Model model, ExpertMask mask, Logits logits) {
        this(model, mask, logits, Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * Runs every sequence; {@code observers} gives sequence i's MoE observer (or null), {@code listener} hears each
     * finished (layer, sequence) step and each finished layer. Empty sequences are skipped.
     */
    public void run(List<int[]> sequences, IntFunction<MoeObserver> observers, Sink sink, LayerMajorListener listener) {
        List<List<Integer>> chunks = chunks(sequences);
        List<DecoderLayer> layers = model.layers();
        LayerMajorListener.Meter meter = new LayerMajorListener.Meter(chunks.size() * layers.size());
        for (List<Integer> chunk : chunks) {
            int longest = chunk.stream().mapToInt(i -> sequences.get(i).length).max().orElse(1);
            KvCache cache = model.newLayerCache(longest);
            List<float[]> residuals = new ArrayList<>(chunk.size());
            for (int i : chunk) residuals.add(model.embed(sequences.get(i)));
            for (DecoderLayer layer : layers) {
                for (int c = 0; c < chunk.size(); c++) {
                    int s = chunk.get(c);
                    MoeObserver observer = observers == null ? null : observers.apply(s);
                    layer.forward(residuals.get(c), sequences.get(s).length, 0, cache,
                            new ForwardContext(mask, observer));
                    listener.sequenceDone(s, layer.index());
                }
                cache.release(layer.index());
                listener.layerDone(meter.layerDone());
            }
            for (int c = 0; c < chunk.size(); c++) {
                int s = chunk.get(c);
                float[] x = residuals.get(c);
                residuals.set(c, null);
                int n = sequences.get(s).length;
                sink.accept(s, logits == Logits.NONE ? null : model.logits(x, n, logits == Logits.ALL));
            }
        }
    }

    /** Consecutive runs of non-empty sequences whose residual streams fit the budget (at least one each). */
    private List<List<Integer>> chunks(List<int[]> sequences) {
        long rowBytes = 4L * model.spec().hiddenSize();
        List<List<Integer>> chunks = new ArrayList<>();
        List<Integer> current = new ArrayList<>();
        long bytes = 0;
        for (int i = 0; i < sequences.size(); i++) {
            int n = sequences.get(i).length;
            if (n == 0) continue;
            long b = n * rowBytes;
            if (!current.isEmpty() && bytes + b > residualBudget) {
                chunks.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(i);
            bytes += b;
        }
        if (!current.isEmpty()) chunks.add(current);
        return chunks;
    }
}
