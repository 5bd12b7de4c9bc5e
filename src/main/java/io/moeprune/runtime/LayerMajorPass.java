package io.moeprune.runtime;

import io.moeprune.kernels.Fp8PanelCache;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Runs many sequences through a model layer by layer instead of document by document: every sequence passes layer L
 * before any enters layer L+1, so each layer's weights are read once per run whatever the number of sequences
 * (document-major, each document read the whole checkpoint again once it no longer fitted in the page cache).
 * Attention state lives for one layer at a time; the residual streams of all sequences wait between layers, on the
 * heap or in a temporary file ({@link ResidualStore}). Each sequence runs as the same single batch the document-major {@link Model#forward}
 * would run it as, in the same order within a layer, so logits and everything an observer sees are the same floats.
 *
 * <p>Within a layer, FP8 weights dequantised to BF16 for the tiles are kept for the layer's later sequences
 * ({@link Fp8PanelCache}, up to {@link MemoryBudget#forDequantisedPanels}).
 *
 * <p>For prefill-only work (calibration, perplexity, choice scoring); generation stays document-major.
 */
public final class LayerMajorPass implements PrefillPass {
    /** Which logits each sequence's {@link Sink} receives. */
    public enum Logits {
        /** none (calibration needs only what the observers see) */
        NONE,
        /** the last position's [vocab] */
        LAST,
        /** every position's [n, vocab] */
        ALL,
        /**
         * not logits but each scored position's {@link TokenScores} (its target: the sequence's next token), for a
         * {@link ScoreSink}: perplexity and choice scoring. Every position's logits are still checked finite.
         */
        SCORES
    }

    /** Receives each non-empty sequence's logits (null with {@link Logits#NONE}) once it has left the last layer. */
    @FunctionalInterface
    public interface Sink {
        void accept(int sequence, float[] logits);
    }

    /** The sink of a {@link Logits#SCORES} pass: each non-empty sequence's {@link TokenScores} instead of logits. */
    public interface ScoreSink extends Sink {
        /** The first position of {@code sequence} whose next token is scored (0: every one). */
        int firstScored(int sequence);

        void scores(int sequence, TokenScores scores);

        /** A SCORES pass delivers no logits. */
        @Override
        default void accept(int sequence, float[] logits) {
            throw new IllegalStateException("a token-scores sink was given logits");
        }
    }

    /** The sink of a pass of {@code logits} as a {@link ScoreSink} for {@link Logits#SCORES} (else null). */
    public static ScoreSink scoring(Logits logits, Sink sink) {
        if (logits != Logits.SCORES) return null;
        if (sink instanceof ScoreSink s) return s;
        throw new IllegalArgumentException("a SCORES pass needs a ScoreSink");
    }

    /** {@code -Dmoeprune.streamWeights=true|false} overrides the default of {@link #streamWeights}. */
    public static final String STREAM_PROPERTY = "moeprune.streamWeights";

    private final Model model;
    private final ExpertMask mask;
    private final Logits logits;
    private final long residualBudget;
    private boolean streamWeights;
    private Path spillDirectory = MemoryBudget.spillDirectory();

    /**
     * @param residualBudget bytes the waiting residual streams may take on the heap; beyond it they wait in a
     *                       temporary file ({@link ResidualStore})
     */
    public LayerMajorPass(Model model, ExpertMask mask, Logits logits, long residualBudget) {
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.logits = logits;
        this.residualBudget = residualBudget;
        String forced = System.getProperty(STREAM_PROPERTY, "auto");
        this.streamWeights = forced.equals("auto") ? model.checkpointBytes() > MemoryBudget.forWeights()
                : Boolean.parseBoolean(forced);
    }

    /** A pass within the process's {@link MemoryBudget}: residual streams on the heap up to its share, then spilled. */
    public LayerMajorPass(Model model, ExpertMask mask, Logits logits) {
        this(model, mask, logits, MemoryBudget.forResiduals());
    }

    /**
     * Whether each layer's weight pages are read ahead while the layer before computes and given back once every
     * sequence has passed it ({@link LayerPages}). Default: when the checkpoint is larger than what the
     * {@link MemoryBudget} leaves the weights beside the heap (then the page cache could not keep it anyway, and
     * giving back what is finished keeps it from evicting what is not).
     */
    public LayerMajorPass streamWeights(boolean on) {
        this.streamWeights = on;
        return this;
    }

    /** Where the residual streams go when they exceed the budget (default: {@link MemoryBudget#spillDirectory}). */
    public LayerMajorPass spillDirectory(Path dir) {
        this.spillDirectory = dir;
        return this;
    }

    @Override
    public void run(List<int[]> sequences, IntFunction<MoeObserver> observers, Sink sink, LayerMajorListener listener) {
        scoring(logits, sink);   // a wrong sink fails before the run, not after it
        try {
            model.checkShards();
            runLayers(sequences, observers, sink, listener);
        } catch (InternalError e) {
            // A SIGBUS in a mapped read that the JVM could turn into an error: a shard was truncated under us.
            throw model.mappedReadFault(e);
        }
    }

    private void runLayers(List<int[]> sequences, IntFunction<MoeObserver> observers, Sink sink,
                           LayerMajorListener listener) {
        List<Integer> run = new ArrayList<>();   // the non-empty sequences, in order
        long bytes = 0;
        for (int i = 0; i < sequences.size(); i++) {
            if (sequences.get(i).length == 0) continue;
            run.add(i);
            bytes += 4L * sequences.get(i).length * model.spec().hiddenSize();
        }
        if (run.isEmpty()) return;
        List<DecoderLayer> layers = model.layers();
        LayerMajorListener.Meter meter = new LayerMajorListener.Meter(layers.size());
        int longest = run.stream().mapToInt(i -> sequences.get(i).length).max().orElseThrow();
        KvCache cache = model.newLayerCache(longest);
        LayerPages pages = streamWeights ? model.layerPages() : null;
        try (ResidualStore residuals = ResidualStore.of(bytes, residualBudget, spillDirectory)) {
            for (int s : run) residuals.add(model.embed(sequences.get(s), 0));
            if (pages != null) pages.readAhead(0);
            for (DecoderLayer layer : layers) {
                if (pages != null) pages.readAhead(layer.index() + 1);
                // The layer's FP8 weights dequantised once for all its sequences, not once per sequence (same floats).
                try (Fp8PanelCache kept = run.size() > 1 ? Fp8PanelCache.open(MemoryBudget.forDequantisedPanels()) : null) {
                    for (int c = 0; c < run.size(); c++) {
                        int s = run.get(c);
                        MoeObserver observer = observers == null ? null : observers.apply(s);
                        float[] x = residuals.get(c);
                        model.forwardLayer(layer.index(), x, sequences.get(s).length, 0, cache,
                                new ForwardContext(mask, observer));
                        residuals.put(c, x);
                        listener.sequenceDone(s, layer.index());
                    }
                }
                cache.release(layer.index());
                if (pages != null) pages.release(layer.index());
                listener.layerDone(meter.layerDone());
            }
            ScoreSink scores = scoring(logits, sink);
            for (int c = 0; c < run.size(); c++) {
                int s = run.get(c);
                int[] ids = sequences.get(s);
                float[] x = residuals.get(c);
                residuals.drop(c);
                switch (logits) {
                    case NONE -> sink.accept(s, null);
                    // All rows, as the document-major Perplexity computes and checks them.
                    case SCORES -> scores.scores(s, TokenScores.of(model.logits(x, ids.length, 0, true), ids,
                            Math.max(0, scores.firstScored(s))));
                    case LAST, ALL -> sink.accept(s, model.logits(x, ids.length, 0, logits == Logits.ALL));
                }
            }
        }
    }
}
