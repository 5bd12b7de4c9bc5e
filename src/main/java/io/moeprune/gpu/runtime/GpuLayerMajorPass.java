package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.OpProfile;
import io.moeprune.gpu.ops.ProfiledOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;
import io.moeprune.runtime.PrefillPass;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * {@link LayerMajorPass} on a device ({@link DeviceOps}): the same contract (sequences, observers, sink, listener,
 * mask, logits), so calibration statistics, masks and losses can come from a GPU run. Layer-major is what lets one
 * GPU serve a model larger than its memory: each layer's weights are copied host→device once per run, from pinned
 * memory, the copy of layer L+1 overlapping the compute of layer L ({@link WeightStream}); the sequences of a layer
 * run in chunks of whole sequences that fit the {@code --gpu-memory} bound ({@link MemoryPlan}). Given the device
 * session's {@link ResidentModel}, a model whose whole weights fit the bound beside a memory plan as good as the
 * streamed one (same attention scratch, residuals as resident, chunks as long) is uploaded once instead, by the first
 * pass or generation of the process (that run pays the upload: every layer staged and copied, without the overlap of
 * streaming), and every later run of that model, whatever its mask, copies nothing, its LM head included; a model
 * that does not fit streams as above. Over resident weights (and residuals) the embeddings are looked up on the device
 * from the token ids ({@link EmbeddingTable}), else on the host by the model's own lookup; routing is done on the
 * device as the CPU's router computes it ({@link ChunkRouting}; {@link HostRouting} beyond 1024 experts), so the experts
 * chosen are the CPU's given equal router logits. With
 * {@link LayerMajorPass.Logits#SCORES} (perplexity, choice scoring) the logits are scored where the LM head writes them
 * ({@link DeviceTokenScores}): a loss, a hit and a finite flag a position come back, not [n, vocab] floats.
 *
 * <p>Products take BF16 inputs (the CPU's take F32 activations), so logits agree with the CPU's to about 1e-2
 * relative, and a token whose two router logits are within that of each other may choose differently (a near tie).
 * Observers get {@link MoeTrace}s without per-expert rows: ‖e‖ per slot and the turn per token come reduced on the
 * device instead; the residual entering the block only where an observer of the chunk reads it
 * ({@link MoeObserver#readsResidual}). What they see is downloaded without a wait: queued on a download stream of its
 * own (or the compute stream: {@link ObserverDownloadMode}) into pinned memory behind a fence, which the trace's
 * builder waits for ({@link ObserverDownloads}). Observers that may run
 * off the pass's thread ({@link MoeObserver#runsOffThread}: the calibration's) run on workers while the pass goes on
 * ({@link ObserverWorkers}); the pass waits for them before the finite check and the logits, and rethrows an
 * observer's exception. Every family of the CPU runtime: qwen3_moe,
 * qwen2_moe, olmoe, mixtral, granitemoe, gpt_oss (BF16 or MXFP4 experts), deepseek_v2/v3 (MLA; FP8 block-scaled weights
 * dequantised on the device). {@link #timed} times each layer's copy and compute, {@link #profiled} (or
 * {@code -Dmoeprune.gpuPhases=true}) each step of a chunk ({@link GpuPhases}).
 */
public final class GpuLayerMajorPass implements PrefillPass {
    private final Model model;
    private final ExpertMask mask;
    private final LayerMajorPass.Logits logits;
    /** The device's operations, or {@link #profiler} over them. */
    private DeviceOps ops;
    /** The per-operation profile's recorder ({@link #opsProfiled}), or null. */
    private ProfiledOps profiler;
    private ProfiledOps.StreamProfiles opProfiles;
    private final long bound;
    private final ResidentModel resident;
    private final List<LayerPlan> layers;
    private boolean timed;
    private boolean profiled = GpuPhases.ON;
    /** The experts' output rows' type (read at construction: a bad value fails before the run). */
    private ExpertOutputs expertOutputs = ExpertOutputs.fromProperties();
    private boolean fusedPrologue = AttentionStep.FUSED_PROLOGUE;
    private boolean fusedAttentionEpilogue = AttentionStep.FUSED_EPILOGUE;
    private boolean fusedSlotNorms = FeedForwardStep.FUSED_SLOT_NORMS;
    private boolean fusedEpilogue = FeedForwardStep.FUSED_EPILOGUE;
    /** Where the observers' copies run (read at construction: a bad value fails before the run). */
    private ObserverDownloadMode observerDownloads = ObserverDownloadMode.fromProperties();
    private List<LayerTimes> times = List.of();
    private GpuPhaseProfile profile;

    /**
     * @param bound the {@code --gpu-memory} bound of {@code ops} in bytes: what the run plans its memory in (less
     *              what the device holds already)
     */
    public GpuLayerMajorPass(Model model, ExpertMask mask, LayerMajorPass.Logits logits, DeviceOps ops, long bound) {
        this(model, mask, logits, ops, bound, null);
    }

    /**
     * A pass that runs over the device session's resident weights ({@link ResidentModel}) when the whole model fits
     * the bound beside the pass's own memory, and streams its layers otherwise (see the class comment).
     *
     * @param resident the session's resident weights (null: always stream)
     */
    public GpuLayerMajorPass(Model model, ExpertMask mask, LayerMajorPass.Logits logits, DeviceOps ops, long bound,
                             ResidentModel resident) {
        this.model = model;
        this.resident = resident;
        this.mask = mask == null ? ExpertMask.NONE : mask;
        this.logits = logits;
        this.ops = ops;
        this.bound = bound;
        this.layers = LayerPlan.of(model);
        if (ProfiledOps.ON) opsProfiled();
    }

    /** Times each layer's copy and compute from now on ({@link #layerTimes}; benchmarks). */
    public GpuLayerMajorPass timed() {
        timed = true;
        return this;
    }

    /** The last timed run's layers, in order (empty for an untimed run). */
    public List<LayerTimes> layerTimes() {
        return times;
    }

    /**
     * Sets the type of the experts' output rows from now on ({@code -Dmoeprune.expertOutputs} by default; F32 where
     * the experts add down biases, see {@link ChunkBuffers.Widths}): tests compare both on one device.
     */
    public GpuLayerMajorPass expertOutputs(ExpertOutputs outputs) {
        expertOutputs = outputs;
        return this;
    }

    /**
     * Whether the attention's prologue runs fused from now on ({@code -Dmoeprune.fusedPrologue} by default, see
     * {@code AttentionStep.FUSED_PROLOGUE}): tests compare both on one device.
     */
    public GpuLayerMajorPass fusedPrologue(boolean fused) {
        fusedPrologue = fused;
        return this;
    }

    /**
     * Whether the passes around the attention kernel are cut from now on ({@code -Dmoeprune.fusedAttentionEpilogue}
     * by default, see {@code AttentionStep.FUSED_EPILOGUE}): tests compare both on one device.
     */
    public GpuLayerMajorPass fusedAttentionEpilogue(boolean fused) {
        fusedAttentionEpilogue = fused;
        return this;
    }

    /**
     * Whether a watched chunk's slot norms come from the combine's own read from now on
     * ({@code -Dmoeprune.fusedSlotNorms} by default, see {@code FeedForwardStep.FUSED_SLOT_NORMS}): tests compare both
     * on one device.
     */
    public GpuLayerMajorPass fusedSlotNorms(boolean fused) {
        fusedSlotNorms = fused;
        return this;
    }

    /**
     * Whether a MoE block's epilogue (combine, slot norms and turns, shared expert's rows, residual add, finite check)
     * runs as one kernel from now on ({@code -Dmoeprune.fusedEpilogue} by default, see
     * {@code FeedForwardStep.FUSED_EPILOGUE}): tests compare both on one device.
     */
    public GpuLayerMajorPass fusedEpilogue(boolean fused) {
        fusedEpilogue = fused;
        return this;
    }

    /**
     * Where the observers' copies run from now on ({@code -Dmoeprune.observerDownloads} by default, see
     * {@link ObserverDownloadMode}): tests compare them on one device.
     */
    public GpuLayerMajorPass observerDownloads(ObserverDownloadMode mode) {
        observerDownloads = mode;
        return this;
    }

    /** Profiles each run's phases from now on ({@link #phaseProfile}; on already with -Dmoeprune.gpuPhases=true). */
    public GpuLayerMajorPass profiled() {
        profiled = true;
        return this;
    }

    /**
     * Profiles each run's operations on the compute stream from now on ({@link #opProfile}; on already with
     * {@code -Dmoeprune.gpuOps=true}): every operation the pass queues, its LM head's and token scores' included, is
     * bracketed by timing marks ({@link ProfiledOps}).
     */
    public GpuLayerMajorPass opsProfiled() {
        if (profiler == null) {
            profiler = new ProfiledOps(ops);
            ops = profiler;
        }
        return this;
    }

    /** The last run's per-operation profile of the compute stream ({@link #opsProfiled}), or null. */
    public OpProfile opProfile() {
        return opProfiles == null ? null : opProfiles.compute();
    }

    /**
     * The last run's copies on the download stream ({@link #opsProfiled}; the observers' downloads, see
     * {@link ObserverDownloadMode}), or null.
     */
    public OpProfile downloadOpProfile() {
        return opProfiles == null ? null : opProfiles.download();
    }

    /** The last profiled run's phases ({@link GpuPhases}), or null. */
    public GpuPhaseProfile phaseProfile() {
        return profile;
    }

    @Override
    public void run(List<int[]> sequences, IntFunction<MoeObserver> observers, LayerMajorPass.Sink sink,
                    LayerMajorListener listener) {
        LayerMajorPass.scoring(logits, sink);   // a wrong sink fails before the run, not after it
        try {
            model.checkShards();
            // Before the plan, so that it counts them: the products must not allocate in the middle of the run.
            try (DeviceOps.Reservation products = ops.reserveGroupedProducts(model.spec().moe().numExperts())) {
                runLayers(sequences, observers, sink, listener);
            }
        } catch (InternalError e) {
            // A SIGBUS in a mapped read (while staging a layer) that the JVM could turn into an error.
            throw model.mappedReadFault(e);
        }
    }

    private void runLayers(List<int[]> sequences, IntFunction<MoeObserver> observers, LayerMajorPass.Sink sink,
                           LayerMajorListener listener) {
        GpuPhases phases = new GpuPhases(ops, profiled);
        // Each run's own operations, its products named as this run computes them (fused q|k|v or not).
        if (profiler != null) OpRoles.name(profiler.clear(), layers, fusedPrologue, model.spec().hiddenSize(),
                model.spec().vocabSize());
        long setup = phases.now();
        List<Integer> run = new ArrayList<>();
        for (int i = 0; i < sequences.size(); i++) if (sequences.get(i).length > 0) run.add(i);
        if (run.isEmpty()) return;
        int hidden = model.spec().hiddenSize();
        int[] lengths = run.stream().mapToInt(i -> sequences.get(i).length).toArray();
        long[] firstRow = new long[lengths.length + 1];
        for (int c = 0; c < lengths.length; c++) firstRow[c + 1] = firstRow[c] + lengths[c];
        int longest = Arrays.stream(lengths).max().orElseThrow();
        ChunkBuffers.Widths widths = ChunkBuffers.Widths.of(model.spec(), layers, expertOutputs);
        long tokens = firstRow[lengths.length];
        Source source = weightSource(widths, tokens, longest, hidden);
        ResidentWeights weights = source.resident();
        MemoryPlan plan = source.plan();
        List<int[]> chunks = plan.chunks(lengths);
        LayerMajorListener.Meter meter = new LayerMajorListener.Meter(layers.size());
        PassClock clock = new PassClock(ops, layers.size(), timed);
        phases.host(GpuPhases.Phase.ALLOCATIONS, setup);
        try (HostTransfers io = new HostTransfers(ops);
             WeightStream stream = phases.host(GpuPhases.Phase.FIRST_STAGING,
                     () -> weights == null ? new WeightStream(ops, layers, plan.slotBytes(), clock) : null);
             Residuals residuals = phases.host(GpuPhases.Phase.ALLOCATIONS,
                     () -> new Residuals(ops, firstRow[lengths.length], hidden, plan.residentResiduals()))) {
            // On the device where the table is (beside resident weights and residuals), else on the host, in pinned memory.
            EmbeddingTable table = weights != null && plan.residentResiduals() ? weights.embeddings() : null;
            long embed = phases.now();
            if (table == null) {
                try (StagingPool pool = new StagingPool()) {   // the model's own lookup, sequences in parallel
                    residuals.fill(firstRow, c -> model.embed(sequences.get(run.get(c)), 0), pool);
                }
            } else {
                table.check(run.stream().map(sequences::get).toList());
            }
            phases.host(GpuPhases.Phase.EMBEDDINGS, embed);
            long buffers = phases.now();
            try (ChunkBuffers b = new ChunkBuffers(ops, widths, plan.chunkTokens(), plan.residentResiduals());
                 FiniteFlags flags = new FiniteFlags(ops, layers.size() * chunks.size());
                 // Closed after the workers (the reverse order): no trace reads a region then.
                 ObserverDownloads downloads = new ObserverDownloads(ops, plan.chunkTokens(), observerDownloads);
                 ObserverWorkers workers = new ObserverWorkers()) {
                phases.host(GpuPhases.Phase.ALLOCATIONS, buffers);
                if (table != null) {
                    long lookUp = phases.now();
                    embedOnDevice(table, sequences, run, chunks, firstRow, residuals, b, io);
                    phases.host(GpuPhases.Phase.EMBEDDINGS, lookUp);
                }
                phases.loopStarts();
                for (LayerPlan layer : layers) {
                    long waits = phases.now();
                    DeviceBuffer slot = stream != null ? stream.enter(layer.index())
                            : residentSlot(weights, layer, clock);
                    phases.host(GpuPhases.Phase.STAGING_WAIT, waits);
                    phases.stream(GpuPhases.Phase.WEIGHTS);
                    for (int i = 0; i < chunks.size(); i++) {
                        int[] chunk = chunks.get(i);
                        runChunk(layer, slot, b, io, residuals, chunk, lengths, firstRow, run, observers, downloads,
                                workers, flags, layer.index() * chunks.size() + i, phases);
                        for (int c : chunk) listener.sequenceDone(run.get(c), layer.index());
                    }
                    clock.layerQueued(layer.index());
                    if (stream != null) stream.leave(layer.index());
                    listener.layerDone(meter.layerDone());
                }
                phases.hostNanos(GpuPhases.Phase.OBSERVER_WAIT, downloads.waitedNanos());
                long finish = phases.now();
                workers.finish();   // an observer's exception before the finite check, as when it ran in its layer
                ops.synchronize();
                requireFinite(flags, chunks, lengths);
                times = clock.times(layers);
                phases.host(GpuPhases.Phase.FINISH, finish);
            }
            long lmHead = phases.now();
            if (stream != null) stream.freeSlots();   // the LM head takes the slots' place
            switch (logits) {
                case NONE -> {
                    for (int s : run) sink.accept(s, null);
                }
                case SCORES -> score(sequences, run, firstRow, longest, weights, stream, io, residuals, plan,
                        LayerMajorPass.scoring(logits, sink));
                case LAST, ALL -> {
                    try (LmHeadStep head = head(weights, stream, io, plan,
                            logits == LayerMajorPass.Logits.ALL ? longest : 1)) {
                        for (int c = 0; c < lengths.length; c++) {
                            sink.accept(run.get(c), head.logits(residuals, firstRow[c], lengths[c],
                                    logits == LayerMajorPass.Logits.ALL, io, 0));
                        }
                    }
                }
            }
            phases.host(GpuPhases.Phase.LM_HEAD, lmHead);
        }
        profile = phases.profile();
        if (profiler != null) opProfiles = profiler.profile();
    }

    /**
     * The LM head and the token scores of every sequence on the device, queued one after another without a wait,
     * read back once ({@link DeviceTokenScores}); then each sequence's scores to the sink in order, or the CPU's
     * error at the first sequence whose logits were not finite.
     */
    private void score(List<int[]> sequences, List<Integer> run, long[] firstRow, int longest, ResidentWeights weights,
                       WeightStream stream, HostTransfers io, Residuals residuals, MemoryPlan plan,
                       LayerMajorPass.ScoreSink sink) {
        List<int[]> ids = run.stream().map(sequences::get).toList();
        int[] first = run.stream().mapToInt(s -> Math.max(0, sink.firstScored(s))).toArray();
        // The scores' rows first: the head then sizes its blocks of rows in what is left.
        try (DeviceTokenScores scores = new DeviceTokenScores(ops, io, ids, firstRow, first);
             LmHeadStep head = head(weights, stream, io, plan, longest)) {
            for (int c = 0; c < ids.size(); c++) head.queueScores(residuals, firstRow[c], ids.get(c).length, scores);
            scores.download();
            for (int c = 0; c < ids.size(); c++) sink.scores(run.get(c), scores.sequence(c, model));
        }
    }

    /**
     * Each chunk's embeddings looked up on the device into its residual rows (resident): its token ids uploaded into
     * the chunk buffers' positions (which its first layer overwrites after, in stream order), then one lookup.
     */
    private static void embedOnDevice(EmbeddingTable table, List<int[]> sequences, List<Integer> run,
                                      List<int[]> chunks, long[] firstRow, Residuals residuals, ChunkBuffers b,
                                      HostTransfers io) {
        for (int[] chunk : chunks) {
            long from = firstRow[chunk[0]];
            int tokens = (int) (firstRow[chunk[chunk.length - 1] + 1] - from), at = 0;
            int[] ids = new int[tokens];
            for (int c : chunk) {
                int[] s = sequences.get(run.get(c));
                System.arraycopy(s, 0, ids, at, s.length);
                at += s.length;
            }
            io.upload(ids, tokens, b.positions);
            table.lookUp(b.positions, tokens, residuals.rows(from, tokens, null), 0);
        }
    }

    /** The run's memory plan and the resident weights it runs over (null: its layers stream). */
    private record Source(ResidentWeights resident, MemoryPlan plan) {
    }

    /**
     * Where this run's weights come from. Without a {@link ResidentModel} they stream. With one: another model's
     * weights are released first; this model's, when resident already (generation's or an earlier pass's), serve the
     * run, unless they leave it too little (then they are released and it streams in their place); else the model is
     * made resident when {@link #fitsResident}, and streams otherwise, or when the plan after the upload falls short of
     * the estimate (released again): never a failure where streaming fits.
     */
    private Source weightSource(ChunkBuffers.Widths widths, long tokens, int longest, int hidden) {
        long slots = WeightStream.slotBytes(layers);
        if (resident == null) return new Source(null, plan(ops.allocatedBytes(), slots, widths, tokens, longest, hidden));
        resident.makeRoomFor(model);
        ResidentWeights held = resident.of(model);
        if (held != null) {
            try {
                return new Source(held, plan(ops.allocatedBytes(), 0, widths, tokens, longest, hidden));
            } catch (MoepruneException tooSmall) {
                resident.release();
            }
        }
        long inUse = ops.allocatedBytes();
        MemoryPlan streamed = plan(inUse, slots, widths, tokens, longest, hidden);
        if (!fitsResident(streamed, inUse, widths, tokens, longest, hidden)) return new Source(null, streamed);
        try {
            ResidentWeights uploaded = resident.upload(model);
            return new Source(uploaded, plan(ops.allocatedBytes(), 0, widths, tokens, longest, hidden));
        } catch (MoepruneException tooSmall) {   // the estimate fell short (an allocation or the plan after it)
            resident.release();
            return new Source(null, streamed);
        }
    }

    /** A resident layer's slot: nothing to copy or dequantise (its times say so). */
    private static DeviceBuffer residentSlot(ResidentWeights weights, LayerPlan layer, PassClock clock) {
        clock.resident(layer.index());
        return weights.slot(layer.index());
    }

    /**
     * The LM head of at most {@code rows} rows at a time: over the resident head, or uploaded through the stream's
     * free staging buffer into the memory the layer slots left.
     */
    private LmHeadStep head(ResidentWeights weights, WeightStream stream, HostTransfers io, MemoryPlan plan, int rows) {
        if (weights != null) return new LmHeadStep(ops, weights.head(), plan.residentResiduals(), rows, bound);
        return new LmHeadStep(ops, model, stream.freeStaging(), io, plan.residentResiduals(), rows, bound);
    }

    /**
     * Whether the whole model's weights ({@link ResidentWeights#bytes}) fit beside a plan as good as the streamed
     * one: the attention's scratch kept, the residuals resident if the streamed plan keeps them, chunks at least as
     * long. Otherwise the pass streams: residency must not make the compute slower nor fail a run streaming can do.
     */
    private boolean fitsResident(MemoryPlan streamed, long inUse, ChunkBuffers.Widths widths, long tokens,
                                 int longest, int hidden) {
        long available = bound - inUse - ResidentWeights.bytes(model, layers) - attentionScratch(longest);
        try {
            MemoryPlan r = MemoryPlan.of(available, 0, widths.bytesPerToken(), ChunkBuffers.BUFFERS, tokens, longest,
                    hidden, bound, inUse);
            return r.chunkTokens() >= streamed.chunkTokens()
                    && (r.residentResiduals() || !streamed.residentResiduals());
        } catch (MoepruneException tooSmall) {
            return false;
        }
    }

    /** The attention's own scratch for the longest sequence (the tensor-core path's; 0 where it takes none). */
    private long attentionScratch(int longest) {
        long scratch = 0;
        for (LayerPlan l : layers) scratch = Math.max(scratch, AttentionStep.scratchBytes(ops, l.attention(), longest));
        return scratch;
    }

    /**
     * The memory plan with {@code slots} bytes a weight slot (0 when the weights are resident), leaving the
     * attention's own scratch free (the tensor-core path's, for long sequences) where the bound allows; where it does
     * not, the plan without it (the attention then takes the warp kernel).
     */
    private MemoryPlan plan(long inUse, long slots, ChunkBuffers.Widths widths, long tokens, int longest, int hidden) {
        long scratch = attentionScratch(longest);
        if (scratch > 0) {
            try {
                return MemoryPlan.of(bound - inUse - scratch, slots, widths.bytesPerToken(), ChunkBuffers.BUFFERS,
                        tokens, longest, hidden, bound, inUse);
            } catch (MoepruneException tooSmall) {
                // the plan below, without the scratch
            }
        }
        return MemoryPlan.of(bound - inUse, slots, widths.bytesPerToken(), ChunkBuffers.BUFFERS, tokens, longest,
                hidden, bound, inUse);
    }

    private void runChunk(LayerPlan layer, DeviceBuffer slot, ChunkBuffers b, HostTransfers io, Residuals residuals,
                          int[] chunk, int[] lengths, long[] firstRow, List<Integer> run,
                          IntFunction<MoeObserver> observers, ObserverDownloads downloads, ObserverWorkers workers,
                          FiniteFlags flags, int flag, GpuPhases phases) {
        int first = chunk[0], tokens = (int) (firstRow[chunk[chunk.length - 1] + 1] - firstRow[first]);
        int[] positions = new int[tokens], starts = new int[chunk.length + 1];
        for (int i = 0; i < chunk.length; i++) {
            starts[i + 1] = starts[i] + lengths[chunk[i]];
            for (int t = 0; t < lengths[chunk[i]]; t++) positions[starts[i] + t] = t;
        }
        io.upload(positions, tokens, b.positions);
        io.upload(starts, starts.length, b.starts);
        MoeObserver[] watching = new MoeObserver[chunk.length];
        boolean residual = false;
        int watched = 0;
        for (int i = 0; i < chunk.length && observers != null; i++) {
            watching[i] = observers.apply(run.get(chunk[i]));
            if (watching[i] != null) watched++;
            residual |= watching[i] != null && watching[i].readsResidual();
        }
        DeviceBuffer x = residuals.rows(firstRow[first], tokens, b.x);
        phases.stream(GpuPhases.Phase.CHUNK_INPUTS);
        AttentionStep.run(ops, layer, slot, b, x, tokens, AttentionStep.overChunk(ops, b, tokens, chunk.length),
                fusedPrologue, fusedAttentionEpilogue);
        phases.stream(GpuPhases.Phase.ATTENTION);
        ObserverDownloads.Chunk seen = FeedForwardStep.run(ops, io, layer, slot, b, x, tokens, mask,
                watched == 0 ? null : new FeedForwardStep.Watch(downloads, residual, watched, fusedSlotNorms),
                new FeedForwardStep.Finish(flags, flag, fusedEpilogue), fusedPrologue, phases);
        residuals.back(firstRow[first], tokens, b.x);
        phases.stream(GpuPhases.Phase.CHUNK_INPUTS);
        if (seen == null) return;
        long hand = phases.now();
        for (int i = 0; i < chunk.length; i++) {
            if (watching[i] == null) continue;
            workers.hand(run.get(chunk[i]), watching[i], seen.sequence(starts[i], starts[i + 1]));
        }
        phases.host(GpuPhases.Phase.OBSERVER_WAIT, hand);
        phases.stream(GpuPhases.Phase.OBSERVERS);
    }

    /**
     * The CPU's error for the first layer whose output was not finite (flags per layer and chunk, in that order),
     * naming the token position within its sequence.
     */
    private void requireFinite(FiniteFlags flags, List<int[]> chunks, int[] lengths) {
        FiniteFlags.Found bad = flags.first();
        if (bad == null) return;
        long row = bad.element() / model.spec().hiddenSize();
        for (int c : chunks.get(bad.slot() % chunks.size())) {
            if (row < lengths[c]) break;
            row -= lengths[c];
        }
        throw model.nonFiniteInLayer(layers.get(bad.slot() / chunks.size()).index(), bad.nan(), (int) row);
    }
}
