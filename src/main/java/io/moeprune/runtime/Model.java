package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.kernels.Kernels;
import io.moeprune.model.ModelSpec;
import io.moeprune.safetensors.Checkpoint;
import io.moeprune.safetensors.Tensor;

import java.nio.file.Path;
import java.util.List;

/**
 * A causal MoE language model ready to run on the CPU: memory-mapped weights in their stored dtype, computed in
 * F32. {@link #forward} runs a batch of consecutive tokens (prefill, or a single decode step) against an
 * {@link InferenceState}'s KV cache.
 */
public final class Model implements AutoCloseable {
    private final ModelSpec spec;
    private final Checkpoint checkpoint;
    private final Tensor embedding;
    private final List<DecoderLayer> layers;
    private final RmsNorm finalNorm;
    private final Linear lmHead;
    private LayerPages pages;
    private final ShardGuard shards;

    Model(ModelSpec spec, Checkpoint checkpoint, Tensor embedding, List<DecoderLayer> layers, RmsNorm finalNorm,
          Linear lmHead, ShardGuard shards) {
        this.shards = shards;
        this.spec = spec;
        this.checkpoint = checkpoint;
        this.embedding = embedding;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    /** Maps the checkpoint of {@code dir} described by {@code spec}. */
    public static Model load(Path dir, ModelSpec spec) {
        return ModelLoader.load(dir, spec);
    }

    /** The mapped pages of each layer's weights, for streaming them layer by layer. Built on first use. */
    public synchronized LayerPages layerPages() {
        if (pages == null) pages = new LayerPages(checkpoint, layers.size());
        return pages;
    }

    /**
     * Makes the routed experts of the MoE layers {@code layers} read from copies of their own ({@link ResidentExperts},
     * none resident yet): from the next forward pass on, a request may route only to experts brought in. Returns them
     * by layer. Call between forward passes; {@link #mappedExperts} undoes it.
     */
    public synchronized java.util.SortedMap<Integer, ResidentExperts> residentExperts(java.util.Collection<Integer> layers) {
        java.util.SortedMap<Integer, ResidentExperts> out = new java.util.TreeMap<>();
        for (int l : layers) {
            if (!(this.layers.get(l).feedForward() instanceof MoeBlock moe)) {
                throw new IllegalArgumentException("layer " + l + " is not a MoE layer");
            }
            ResidentExperts r = moe.experts() instanceof ResidentExperts already ? already
                    : new ResidentExperts(l, moe.experts(), this::checkpointMaps);
            moe.useExperts(r);
            out.put(l, r);
        }
        return java.util.Collections.unmodifiableSortedMap(out);
    }

    /** Every MoE layer reads its experts from the mapped checkpoint again; the resident copies are freed. */
    public synchronized void mappedExperts() {
        for (DecoderLayer layer : layers) {
            if (layer.feedForward() instanceof MoeBlock moe && moe.experts() instanceof ResidentExperts r) {
                moe.useExperts(r.mapped());
                r.evictAll();
            }
        }
    }

    /** Whether {@code range} is memory of the checkpoint's mapped files (not a copy of its own). */
    boolean checkpointMaps(java.lang.foreign.MemorySegment range) {
        return checkpoint.maps(range);
    }

    /** Bytes of every mapped shard file of the checkpoint. */
    public long checkpointBytes() {
        return checkpoint.shards().values().stream().mapToLong(io.moeprune.safetensors.SafetensorsFile::fileSize).sum();
    }

    public ModelSpec spec() {
        return spec;
    }

    public List<DecoderLayer> layers() {
        return layers;
    }

    /** The norm before the LM head. */
    public RmsNorm finalNorm() {
        return finalNorm;
    }

    public Linear lmHead() {
        return lmHead;
    }

    public InferenceState newState() {
        return newState(256);
    }

    public InferenceState newState(int expectedPositions) {
        AttentionLayer a = layers.getFirst().attention();
        return new InferenceState(new KvCache(layers.size(), a.cacheHeads(), a.cacheKeyWidth(), a.cacheValueWidth(),
                expectedPositions));
    }

    /**
     * Runs {@code tokens} at the state's next positions and advances it. Returns logits [n, vocab] when
     * {@code allLogits}, else the last token's logits [vocab].
     */
    public float[] forward(int[] tokens, InferenceState state, boolean allLogits) {
        try {
            return run(tokens, state, allLogits);
        } catch (InternalError e) {
            // A SIGBUS in a mapped read that the JVM could turn into an error: a shard was truncated under us.
            throw shards.explain(e);
        }
    }

    private float[] run(int[] tokens, InferenceState state, boolean allLogits) {
        shards.checkAll();
        int n = tokens.length;
        int start = state.position();
        float[] x = embed(tokens, start);
        for (int l = 0; l < layers.size(); l++) {
            if (n == 1) {
                NextProducts.afterAttention(layers.get(l).feedForward().firstProduct());
                NextProducts.afterFeedForward(l + 1 < layers.size() ? layers.get(l + 1).attention().firstProduct()
                        : Kernels.get().nextOneInput(List.of(lmHead.weights())));
            }
            forwardLayer(l, x, n, start, state.cache(), state.context());
        }
        state.advance(n);
        return logits(x, n, start, allLogits);
    }

    /**
     * Layer {@code l} on the residual rows x [n, hidden] at positions from {@code start}, in place: its shards'
     * sizes checked first and the result checked to be finite (both paths, document- and layer-major, run it).
     */
    void forwardLayer(int l, float[] x, int n, int start, KvCache cache, ForwardContext context) {
        shards.checkLayer(l);
        layers.get(l).forward(x, n, start, cache, context);
        FiniteCheck.require(x, n * spec.hiddenSize(), spec.hiddenSize(), start, checkpoint.dir(), inLayer(l));
    }

    private String inLayer(int l) {
        return "in layer " + l + " (of " + layers.size() + ")";
    }

    /**
     * The error {@link #forwardLayer} throws when layer {@code l}'s output is not finite at token {@code position}:
     * for runtimes that check elsewhere (the GPU's device-side checks).
     */
    public RuntimeException nonFiniteInLayer(int l, boolean nan, int position) {
        return FiniteCheck.error(checkpoint.dir(), nan, inLayer(l), position);
    }

    /**
     * Layer {@code l}'s shards checked, then only its feed-forward half over the residual rows x [n, hidden] (rows of
     * different sequences, each already through the layer's attention), checked to be finite: a batched decode step.
     */
    void feedForwardLayer(int l, float[] x, int n, ForwardContext context) {
        shards.checkLayer(l);
        layers.get(l).feedForward(x, n, 0, context);
        FiniteCheck.require(x, n * spec.hiddenSize(), spec.hiddenSize(), 0, checkpoint.dir(), inLayer(l));
    }

    /**
     * Throws the one-line error when logits [rows, vocab] (the first row at token {@code position}) hold a NaN or an
     * infinite value: the check of {@link #forward}'s logits, for runtimes that compute them elsewhere (the GPU's).
     */
    public void requireFiniteLogits(float[] logits, int vocab, int position) {
        FiniteCheck.require(logits, logits.length, vocab, position, checkpoint.dir(), LOGITS);
    }

    /**
     * The error {@link #requireFiniteLogits} throws for a NaN (or an infinite value) first in the logits of token
     * {@code position}: for runtimes that check the logits where they are (the GPU's token scores).
     */
    public RuntimeException nonFiniteLogits(boolean nan, int position) {
        return FiniteCheck.error(checkpoint.dir(), nan, LOGITS, position);
    }

    private static final String LOGITS = "in the final norm or LM head";

    /** Turns the JVM's error for a fault in a mapped read into the one-line error naming the shard that shrank. */
    public RuntimeException mappedReadFault(InternalError e) {
        return shards.explain(e);
    }

    /** Checks that no shard is shorter than when it was mapped (a truncated shard faults when read). */
    public void checkShards() {
        shards.checkAll();
    }

    /**
     * The scaled embedding rows [n, hidden] of {@code tokens} (at positions from {@code start}, for messages): the
     * residual stream entering the first layer.
     */
    public float[] embed(int[] tokens, int start) {
        int n = tokens.length;
        if (n == 0) throw new IllegalArgumentException("no tokens");
        int hidden = spec.hiddenSize();
        long time = PhaseTimes.start();
        float[] x = new float[n * hidden];
        requireInVocabulary(tokens);
        for (int t = 0; t < n; t++) embedding.readFloats((long) tokens[t] * hidden, x, t * hidden, hidden);
        float em = spec.scaling().embedding();
        if (em != 1f) for (int i = 0; i < x.length; i++) x[i] *= em;
        FiniteCheck.require(x, x.length, hidden, start, checkpoint.dir(), EMBEDDINGS);
        PhaseTimes.end(PhaseTimes.Phase.EMBED, time);
        return x;
    }

    private static final String EMBEDDINGS = "in the embeddings";

    /** The embedding table [vocab, hidden] as stored (a runtime that looks rows up elsewhere: the GPU's). */
    public Tensor embedding() {
        return embedding;
    }

    /** Throws {@link #embed}'s one-line error for the first token id outside the vocabulary. */
    public void requireInVocabulary(int[] tokens) {
        long vocab = embedding.shape()[0];
        for (int id : tokens) {
            if (id < 0 || id >= vocab) throw new MoepruneException("token id " + id + " is outside the vocabulary of " + vocab);
        }
    }

    /**
     * {@link #embed}'s finite check of the whole table at once: the rows whose scaled values (times the embedding
     * multiplier, in float) hold a NaN or an infinity, each mapped to whether its first such value is a NaN. A table is
     * finite or not once and for all, so a runtime that looks rows up elsewhere (the GPU's) checks its token ids
     * against this, computed once, and throws {@link #nonFiniteEmbedding} for the first bad one.
     */
    public java.util.SortedMap<Integer, Boolean> nonFiniteEmbeddingRows() {
        int hidden = spec.hiddenSize(), vocab = Math.toIntExact(embedding.shape()[0]), block = 256;
        float em = spec.scaling().embedding();
        java.util.SortedMap<Integer, Boolean> bad = java.util.Collections.synchronizedSortedMap(new java.util.TreeMap<>());
        java.util.stream.IntStream.range(0, (vocab + block - 1) / block).parallel().forEach(b -> {
            float[] row = new float[hidden];
            for (int r = b * block; r < Math.min(vocab, (b + 1) * block); r++) {
                embedding.readFloats((long) r * hidden, row, 0, hidden);
                if (em != 1f) for (int i = 0; i < hidden; i++) row[i] *= em;
                int at = FiniteCheck.nonFinite(row, hidden);
                if (at >= 0) bad.put(r, Float.isNaN(row[at]));
            }
        });
        return java.util.Collections.unmodifiableSortedMap(new java.util.TreeMap<>(bad));
    }

    /** The error {@link #embed} throws when a token's embedding holds a NaN (or an infinity) at {@code position}. */
    public RuntimeException nonFiniteEmbedding(boolean nan, int position) {
        return FiniteCheck.error(checkpoint.dir(), nan, EMBEDDINGS, position);
    }

    /**
     * The logits of the residual rows x [n, hidden] leaving the last layer: [n, vocab] when {@code allLogits}, else
     * the last row's [vocab].
     */
    float[] logits(float[] x, int n, int start, boolean allLogits) {
        int hidden = spec.hiddenSize();
        long time = PhaseTimes.start();
        float[] rows;
        int m;
        if (allLogits) {
            rows = finalNorm.normalizedRows(x, n);
            m = n;
        } else {
            rows = new float[hidden];
            finalNorm.apply(x, (n - 1) * hidden, rows, 0);
            m = 1;
        }
        float[] logits = lmHead.apply(rows, m);
        float div = spec.scaling().logitsDivisor();
        if (div != 1f && div != 0f) for (int i = 0; i < logits.length; i++) logits[i] /= div;
        requireFiniteLogits(logits, logits.length / m, start + n - m);
        PhaseTimes.end(PhaseTimes.Phase.LM_HEAD, time);
        return logits;
    }

    /**
     * A cache that holds a layer's keys and values only from its first use until {@link KvCache#release}: the
     * layer-major order's attention state, one layer at a time.
     */
    KvCache newLayerCache(int expectedPositions) {
        AttentionLayer a = layers.getFirst().attention();
        return KvCache.onDemand(layers.size(), a.cacheHeads(), a.cacheKeyWidth(), a.cacheValueWidth(), expectedPositions);
    }

    /**
     * What enters one layer's feed-forward block for a batch of tokens.
     *
     * @param residual     the residual rows h [n, hidden], the layer's attention already added
     * @param routerLogits the router's raw logits [n, experts] (before any bias, softmax or mask); null for a dense
     *                     layer
     */
    public record FeedForwardInput(int layer, int n, float[] residual, float[] routerLogits) {
    }

    /**
     * Runs {@code tokens} (from position 0, in a KV cache of their own) through the layers before {@code layer} in
     * full, with {@code observer} (may be null) watching their MoE blocks, and through {@code layer}'s attention and
     * router only. No expert of {@code layer} and no weight of a later layer is read: a prompt's routing signature
     * (io.moeprune.patterns) costs only the layers up to the router it reads.
     */
    public FeedForwardInput runToFeedForward(int[] tokens, int layer, MoeObserver observer) {
        if (layer < 0 || layer >= layers.size()) throw new IllegalArgumentException("layer " + layer);
        int n = tokens.length;
        InferenceState state = newState(n).withObserver(observer);
        float[] x = embed(tokens, 0);
        for (int l = 0; l < layer; l++) forwardLayer(l, x, n, 0, state.cache(), state.context());
        DecoderLayer last = layers.get(layer);
        last.attend(x, n, 0, state.cache());
        float[] logits = last.feedForward() instanceof MoeBlock moe
                ? moe.gate().applyF32(last.postAttentionNorm().normalizedRows(x, n), n) : null;
        return new FeedForwardInput(layer, n, x, logits);
    }

    /** One cached decode step: the logits after {@code token}. */
    public float[] decode(int token, InferenceState state) {
        return forward(new int[]{token}, state, false);
    }

    /** Bytes of weights one token reads in a decode step with k routed experts per MoE layer (roofline). */
    public long activeWeightBytesPerToken() {
        return ModelLoader.activeBytes(this);
    }

    /** How many shards hold a read lease (0 where the kernel refuses them: docs/reliability.md). */
    int shardLeases() {
        return shards.leaseCount();
    }

    @Override
    public void close() {
        shards.close();
        checkpoint.close();
    }
}
