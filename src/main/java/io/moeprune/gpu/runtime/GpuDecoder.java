package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Generation on the device for one sequence ({@link DecodeSteps}: what {@code Generator} drives) or a batch of them
 * (benchmarks: {@link #prefill(int, int[])} each, then {@link #decodeAll} steps every sequence at once; serve:
 * {@link #reset} a slot for the next request, {@link #decodeSlots} steps the slots decoding). A prompt
 * runs in chunks of at most {@link #CHUNK} tokens, then a token at a time, every step through the layer-major pass's
 * own layer code ({@link AttentionStep}, {@link FeedForwardStep}: the same products, host routing and mask) with each
 * sequence's {@link DeviceKvCache} as the attention's keys and values, each layer's output checked finite on the
 * device ({@link FiniteFlags}), and the last rows' logits downloaded for the host's sampler, or, for greedy decoding
 * ({@link #decodeSlotsGreedy}, {@link #prefillGreedy(int, int[])}), their argmax picked on the device and only the
 * tokens downloaded. A decode step runs the
 * projections and experts once over all the sequences' rows, and the cache appends and attention of all of them in
 * one operation ({@link DeviceOps#batchedDecodeAttention}, a table of every sequence's cache addresses). With
 * {@code -Dmoeprune.decodeRouting=device} ({@link #decodeRouting}) a decode step's MoE blocks keep their experts' row
 * counts on the device: nothing in its layers waits for the host.
 */
public final class GpuDecoder implements DecodeSteps {
    /** Most prompt tokens per step (bounds the activations; longer prompts take several steps). */
    static final int CHUNK = 256;

    private final DeviceOps ops;
    private final Model model;
    private final ExpertMask mask;
    private final List<LayerPlan> layers;
    private final ResidentWeights weights;
    private final HostTransfers io;
    private final int hidden, chunk, capacity;
    private final List<DeviceKvCache> caches = new ArrayList<>();
    private final int[] past;
    private final ChunkBuffers b;
    private final Residuals x;
    private final FiniteFlags flags;
    /**
     * Batched steps' cache table: per layer, per sequence of the step, its key and value caches' addresses (int64),
     * written for the sequences {@link #tableSlots} (all of them at first) and again when a step runs others.
     */
    private final DeviceBuffer cacheTable;
    /**
     * A greedy step's next tokens then their rows' finite flags, int32 [n] each for its n rows (at most
     * {@link #chunk}), side by side so that one download of 8·n bytes brings both ({@link DeviceOps#greedyTokens}).
     */
    private final DeviceBuffer choices;
    /** The experts' products' pointer arrays, held while the decoder is open. */
    private final DeviceOps.Reservation products;
    private int[] tableSlots;
    private boolean fusedPrologue = AttentionStep.FUSED_PROLOGUE;
    private boolean fusedEpilogue = FeedForwardStep.FUSED_EPILOGUE;
    private boolean fusedAttentionEpilogue = AttentionStep.FUSED_EPILOGUE;
    /**
     * The experts' addresses and kept flags of a decode step whose counts stay on the device
     * ({@link DecodeRouting#DEVICE}); null: the host's counts.
     */
    private DecodeRoutingTables deviceCounts;

    /** Rows a step of {@code sequences} sequences of {@code positions} positions may run at once. */
    private static int chunk(int sequences, int positions) {
        return Math.max(sequences, Math.min(positions, CHUNK));
    }

    /** Device bytes of {@code sequences} sequences of {@code positions} positions: KV caches and a step's activations. */
    static long bytes(Model model, List<LayerPlan> layers, int sequences, int positions) {
        int chunk = chunk(sequences, positions);
        ChunkBuffers.Widths w = ChunkBuffers.Widths.of(model.spec(), layers);
        return sequences * DeviceKvCache.bytes(layers, positions) + w.bytesPerToken() * chunk
                + 4L * chunk * model.spec().hiddenSize() + 4L * layers.size() + 16L * layers.size() * sequences
                + 8L * chunk + MemoryPlan.ROUNDING * (ChunkBuffers.BUFFERS + 7)
                + DeviceOps.groupedProductsBytes(model.spec().moe().numExperts())
                + DecodeRoutingTables.bytes(layers, model.spec().moe().numExperts());
    }

    /** Whether the blocks' prologues run fused ({@link AttentionStep#FUSED_PROLOGUE} by default). */
    GpuDecoder fusedPrologue(boolean fused) {
        fusedPrologue = fused;
        return this;
    }

    /**
     * Whether the passes around the attention kernel are cut ({@link AttentionStep#FUSED_EPILOGUE} by default): the
     * q/k norms with the rope and o_proj into the residual; the decode steps' attention keeps F32 rows.
     */
    GpuDecoder fusedAttentionEpilogue(boolean fused) {
        fusedAttentionEpilogue = fused;
        return this;
    }

    /** Whether a MoE block's epilogue runs as one kernel ({@link FeedForwardStep#FUSED_EPILOGUE} by default). */
    GpuDecoder fusedEpilogue(boolean fused) {
        fusedEpilogue = fused;
        return this;
    }

    /**
     * Where the decode steps' MoE blocks take their experts' counts from ({@link DecodeRouting}, the prompt's chunks
     * always from the host: up to {@link #CHUNK} rows an expert suit cuBLAS's paths): {@code DEVICE} uploads the
     * tables now, once for the decoder.
     */
    GpuDecoder decodeRouting(DecodeRouting routing) {
        if (deviceCounts != null) deviceCounts.close();
        deviceCounts = null;
        try {
            if (routing == DecodeRouting.DEVICE) deviceCounts = new DecodeRoutingTables(ops, layers, weights, mask);
        } catch (RuntimeException e) {
            close();   // opened in a chain (GpuGeneration.openBatch): nobody else holds the decoder to close it
            throw e;
        }
        return this;
    }

    /** MoE blocks whose decode steps take their counts on the device (0 with the host's). */
    int deviceCountedLayers() {
        return deviceCounts == null ? 0 : deviceCounts.layerCount();
    }

    GpuDecoder(DeviceOps ops, Model model, ExpertMask mask, List<LayerPlan> layers, ResidentWeights weights,
               HostTransfers io, int sequences, int positions) {
        this.ops = ops;
        this.model = model;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.layers = layers;
        this.weights = weights;
        this.io = io;
        this.hidden = model.spec().hiddenSize();
        this.chunk = chunk(sequences, positions);
        this.capacity = positions;
        this.past = new int[sequences];
        ChunkBuffers cb = null;
        Residuals r = null;
        FiniteFlags f = null;
        DeviceBuffer table = null;
        // First, as the layer-major pass does: no step allocates them later (bytes counts them).
        DeviceOps.Reservation p = ops.reserveGroupedProducts(model.spec().moe().numExperts());
        try {
            for (int s = 0; s < sequences; s++) caches.add(new DeviceKvCache(ops, layers, positions));
            cb = new ChunkBuffers(ops, ChunkBuffers.Widths.of(model.spec(), layers), chunk, true);
            r = new Residuals(ops, chunk, hidden, true);
            f = new FiniteFlags(ops, layers.size());
            this.tableSlots = allSlots(sequences);
            table = ops.alloc(16L * layers.size() * sequences, "the KV caches' address table");
            this.cacheTable = table;
            writeTable(tableSlots);
            this.choices = ops.alloc(8L * chunk, "the greedy steps' next tokens");
        } catch (RuntimeException e) {
            if (table != null) ops.free(table);
            if (f != null) f.close();
            if (r != null) r.close();
            if (cb != null) cb.close();
            caches.forEach(DeviceKvCache::close);
            p.close();
            throw e;
        }
        this.products = p;
        this.b = cb;
        this.x = r;
        this.flags = f;
    }

    @Override
    public float[] prefill(int[] prompt) {
        return prefill(0, prompt);
    }

    @Override
    public float[] decode(int token) {
        return decodeAll(new int[]{token});
    }

    @Override
    public int prefillGreedy(int[] prompt) {
        return prefillGreedy(0, prompt);
    }

    @Override
    public int decodeGreedy(int token) {
        return decodeAllGreedy(new int[]{token})[0];
    }

    /** Runs sequence {@code s}'s prompt (or its continuation); its last position's logits [vocab]. */
    public float[] prefill(int s, int[] prompt) {
        int last = prefillLayers(s, prompt);
        return weights.head().logits(x, 0, last, false, io, past[s] - last);
    }

    /**
     * Runs sequence {@code s}'s prompt (or its continuation); its greedy next token, the argmax of its last position's
     * logits picked on the device (8 bytes downloaded; a non-finite row raises {@link #prefill}'s error).
     */
    public int prefillGreedy(int s, int[] prompt) {
        int last = prefillLayers(s, prompt);
        weights.head().queueGreedy(x, last - 1, 1, ids(1), rowFlags(1));
        return downloadGreedy(new int[]{past[s] - 1})[0];
    }

    /** Every layer over sequence {@code s}'s prompt, a chunk at a time; the rows of its last chunk. */
    private int prefillLayers(int s, int[] prompt) {
        int last = 0;
        for (int c0 = 0; c0 < prompt.length; c0 += chunk) {
            last = Math.min(chunk, prompt.length - c0);
            int n = last, from = past[s];
            int[] positions = new int[n];
            for (int i = 0; i < n; i++) positions[i] = from + i;
            step(model.embed(Arrays.copyOfRange(prompt, c0, c0 + n), from), positions,
                    l -> caches.get(s).at(l, from, n), null, null);
            past[s] += n;
        }
        return last;
    }

    /**
     * Empties sequence {@code s}'s cache: its next {@link #prefill(int, int[])} starts a new prompt at position 0 while
     * the other sequences keep theirs (a server's slot taken by the next request).
     */
    public void reset(int s) {
        past[s] = 0;
    }

    /** One token for every sequence (tokens[s] for sequence s): logits [sequences, vocab]. */
    public float[] decodeAll(int[] tokens) {
        return decodeSlots(everySlot(tokens), tokens);
    }

    /**
     * One token for each of the sequences {@code slots} (tokens[i] for sequence slots[i], each slot once): logits
     * [slots, vocab] in that order. The other sequences keep their caches and positions and cost nothing; a server
     * steps the sequences that are decoding while the others wait for requests.
     */
    public float[] decodeSlots(int[] slots, int[] tokens) {
        int n = tokens.length;
        int[] positions = stepSlots(slots, tokens, null);
        float[] logits = weights.head().unchecked(x, 0, n, true, io);
        int vocab = logits.length / n;
        for (int s = 0; s < n; s++) {
            // Each row checked at its own sequence's position (a copy only for the row that fails, if any).
            for (int i = s * vocab; i < (s + 1) * vocab; i++) {
                if (!Float.isFinite(logits[i])) {
                    model.requireFiniteLogits(Arrays.copyOfRange(logits, s * vocab, (s + 1) * vocab), vocab,
                            positions[s]);
                }
            }
        }
        return logits;
    }

    /** {@link #decodeAll} whose next tokens are the argmax of each sequence's logits: {@link #decodeSlotsGreedy}. */
    public int[] decodeAllGreedy(int[] tokens) {
        return decodeSlotsGreedy(everySlot(tokens), tokens);
    }

    /**
     * {@link #decodeSlots} for greedy decoding: the next token of each sequence {@code slots} (in that order), the
     * argmax of its logits (the lowest index on ties, as {@code Sampler.argmax}) picked where the logits are
     * ({@link DeviceOps#greedyTokens}); a step downloads 8 bytes a sequence instead of its [vocab] F32 logits. The LM
     * head and the argmax are queued before the step waits for its layers' finite flags: one wait a step. A non-finite
     * row of logits raises {@link #decodeSlots}'s error (the first non-finite entry's kind and its sequence's
     * position).
     */
    public int[] decodeSlotsGreedy(int[] slots, int[] tokens) {
        int n = tokens.length;
        int[] positions = stepSlots(slots, tokens, () -> weights.head().queueGreedy(x, 0, n, ids(n), rowFlags(n)));
        return downloadGreedy(positions);
    }

    /** The first n entries of {@link #choices}: a greedy step's next tokens. */
    private DeviceBuffer ids(int n) {
        return new DeviceBuffer(choices.address(), 4L * n);
    }

    /** The n entries after the n {@link #ids}: their rows' finite flags. */
    private DeviceBuffer rowFlags(int n) {
        return new DeviceBuffer(choices.at(4L * n), 4L * n);
    }

    /**
     * The queued greedy tokens of rows at {@code positions} (one download of tokens and flags); a row's non-finite
     * flag raises the CPU's error for its first non-finite logit ({@link Model#nonFiniteLogits}: the message
     * {@link Model#requireFiniteLogits} gives for that row's logits).
     */
    private int[] downloadGreedy(int[] positions) {
        int n = positions.length;
        int[] got = io.downloadInts(choices, 2 * n);
        for (int s = 0; s < n; s++) {
            int flag = got[n + s];
            if (flag != 0) throw model.nonFiniteLogits((flag & 1) != 0, positions[s]);
        }
        return Arrays.copyOf(got, n);
    }

    /**
     * Every layer over one token of each sequence {@code slots} (tokens[i] for slots[i]), their caches appended and
     * positions advanced; {@code beforeCheck} (null: none) queues what reads the last rows before the step waits for
     * its layers' finite flags. The rows' positions.
     */
    private int[] stepSlots(int[] slots, int[] tokens, Runnable beforeCheck) {
        int n = tokens.length;
        if (n != slots.length || n == 0) throw new IllegalArgumentException(n + " tokens for " + slots.length + " sequences");
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = past[slots[i]];
            if (positions[i] >= capacity) throw new IllegalStateException((positions[i] + 1) + " positions in a cache of " + capacity);
        }
        float[] embedded = new float[n * hidden];
        for (int s = 0; s < n; s++) {
            System.arraycopy(model.embed(new int[]{tokens[s]}, positions[s]), 0, embedded, s * hidden, hidden);
        }
        if (!Arrays.equals(slots, tableSlots)) writeTable(slots);
        step(embedded, positions, l -> rowByRow(l, n), deviceCounts, beforeCheck);
        for (int slot : slots) past[slot]++;
        return positions;
    }

    /** Every sequence's slot, in order, for {@code tokens}: one token a sequence. */
    private int[] everySlot(int[] tokens) {
        if (tokens.length != past.length) {
            throw new IllegalArgumentException(tokens.length + " tokens for " + past.length + " sequences");
        }
        return allSlots(past.length);
    }

    private static int[] allSlots(int sequences) {
        int[] all = new int[sequences];
        Arrays.setAll(all, i -> i);
        return all;
    }

    /** The cache table of a step over {@code slots}: layer l's entries at [l * slots.length], in the slots' order. */
    private void writeTable(int[] slots) {
        int n = slots.length, layerCount = layers.size();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(16L * layerCount * n, 8);
            for (int l = 0; l < layerCount; l++) {
                for (int i = 0; i < n; i++) {
                    DeviceKvCache cache = caches.get(slots[i]);
                    host.setAtIndex(ValueLayout.JAVA_LONG, 2L * (l * n + i), cache.keysAddress(l));
                    host.setAtIndex(ValueLayout.JAVA_LONG, 2L * (l * n + i) + 1, cache.valuesAddress(l));
                }
            }
            // From pageable memory: staged before upload returns, and ordered after the steps that read the table.
            ops.upload(host, cacheTable, 0);
        }
        tableSlots = slots.clone();
    }

    /**
     * A batched step's attention: row s's keys and values into sequence s's cache at its position, then row s attends
     * to that cache ({@link DeviceOps#batchedDecodeAttention}: two launches for all sequences).
     */
    private AttentionStep.Attend rowByRow(int l, int n) {
        DeviceBuffer table = new DeviceBuffer(cacheTable.address() + 16L * l * n, 16L * n);
        return (qkv, qAt, qStride, kAt, kStride, vAt, vStride, out, outBf16, heads, kvHeads, qkDim, vDim, scale,
                window, sinks) -> {
            ops.batchedDecodeAttention(qkv, qAt, qStride, qkv, kAt, kStride, qkv, vAt, vStride, out, table,
                    b.positions, n, heads, kvHeads, qkDim, vDim, scale, window, sinks);
            return false;   // F32 rows (see DeviceKvCache.at)
        };
    }

    /**
     * Every layer over the embedded rows at {@code positions}, their keys and values cached by {@code attend}; the MoE
     * blocks' counts on the device where {@code counts} has a layer's tables (null: the host's); {@code beforeCheck}
     * (null: none) is queued after the layers, before the wait for their finite flags (a layer's error still wins).
     */
    private void step(float[] embedded, int[] positions, IntFunction<AttentionStep.Attend> attend,
                      DecodeRoutingTables counts, Runnable beforeCheck) {
        int n = positions.length;
        x.put(0, embedded, io);
        io.upload(positions, n, b.positions);
        DeviceBuffer rows = x.rows(0, n, null);
        flags.reset();
        for (int l = 0; l < layers.size(); l++) {
            LayerPlan layer = layers.get(l);
            DeviceBuffer slot = weights.slot(l);
            AttentionStep.run(ops, layer, slot, b, rows, n, attend.apply(l), fusedPrologue,
                    fusedAttentionEpilogue);
            FeedForwardStep.run(ops, io, layer, slot, b, rows, n, mask, null,
                    new FeedForwardStep.Finish(flags, l, fusedEpilogue), fusedPrologue, GpuPhases.OFF,
                    counts == null ? null : counts.layer(l));
        }
        if (beforeCheck != null) beforeCheck.run();
        FiniteFlags.Found bad = flags.first();
        if (bad != null) {
            throw model.nonFiniteInLayer(layers.get(bad.slot()).index(), bad.nan(),
                    positions[(int) (bad.element() / hidden)]);
        }
    }

    @Override
    public void close() {
        if (deviceCounts != null) deviceCounts.close();
        flags.close();
        x.close();
        b.close();
        ops.free(choices);
        ops.free(cacheTable);
        caches.forEach(DeviceKvCache::close);
        products.close();
    }
}
