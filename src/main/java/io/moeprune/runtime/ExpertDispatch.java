package io.moeprune.runtime;

import io.moeprune.kernels.Batches;
import io.moeprune.kernels.Kernels;
import io.moeprune.kernels.Parallel;
import io.moeprune.kernels.TransposedBatch;
import io.moeprune.kernels.Weights;
import io.moeprune.safetensors.DType;

/**
 * Runs the chosen experts of one MoE block over a batch whose (token, slot) pairs are grouped by expert, as
 * work units spread over all threads:
 * <ol>
 *   <li>each expert's tokens are gathered into the transposed layout of {@link Kernels#matMulT} (a single token
 *       is already in it) and packed for kernels that repack inputs (the AMX tiles);</li>
 *   <li>units of (expert, block of intermediate rows) compute silu(gate·x) ⊙ up·x for those rows;</li>
 *   <li>units of hidden rows compute down·act of every active expert for those rows and add them, weighted, into
 *       each token's routed output (or, for few tokens per expert, per expert and then added).</li>
 * </ol>
 * Splitting experts into row blocks is what lets a decode step's few experts (8 of 64, say) keep 16 threads busy;
 * with many active experts (prefill) a unit is a whole expert, so its weights are read and decoded once per batch,
 * and it gathers its own tokens (step 1 inside step 2), while they are hot in cache.
 */
final class ExpertDispatch {
    /** Work units per thread to aim for: enough for the dynamic chunks of {@link Parallel} to even out. */
    private static final int UNITS_PER_THREAD = 8;
    /**
     * From this many active experts per thread on, a gate/up unit is a whole expert that gathers its own tokens
     * ({@code -Dmoeprune.wholeExperts}; a large value keeps the separate gather region, for A/B runs).
     */
    private static final int WHOLE_EXPERTS_PER_THREAD = Math.max(1, Integer.getInteger("moeprune.wholeExperts", 2));
    /**
     * From this many tokens per active expert on (on average), the down projection runs fused with the weighted sum
     * ({@link #downFused}); below, per expert ({@link #downPerExpert}), for long runs of memory per unit.
     */
    private static final int FUSED_MIN_TOKENS = 4;
    /** Units per thread of the fused down projection: they are of equal work (every active expert's rows). */
    private static final int DOWN_UNITS_PER_THREAD = 4;
    /** Row blocks are multiples of this (AMX tiles take 16 rows; the vector register tiles 6 or 8). */
    private static final int ROW_ALIGN = 16;

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    private ExpertDispatch() {
    }

    /**
     * The gathered inputs and the activations of each active expert (and their packings, for the AMX tiles), kept per
     * calling thread and reused by every layer and call: a prefill would otherwise allocate (and the JVM zero) tens of
     * MB per layer, which measured 3 ms per layer of a 256-token prefill on the 1.9 B model. What is kept is capped at
     * {@link #BUDGET} elements in all, so a very long prompt does not pin its large buffers; past the cap they are
     * allocated per call. Lanes past an expert's token count hold stale values from earlier calls; the kernels keep
     * lanes apart, so they only reach outputs that are never read.
     */
    private static final class Buffers {
        /**
         * Floats and ints kept in all: 2^26 (256 MB, about what a 2048-token prefill of a 2 B model needs), or an
         * eighth of the heap on small heaps.
         */
        static final long BUDGET = Math.min(1L << 26, Runtime.getRuntime().maxMemory() / 4 / 8);
        private long kept;
        final FloatSlots inputs = new FloatSlots();
        final FloatSlots activations = new FloatSlots();
        final BatchSlots inputBatches = new BatchSlots();
        final BatchSlots activationBatches = new BatchSlots();
        /** Every slot's unweighted expert output of a few-tokens batch (decode), before the weighted sum. */
        private float[] slotOutputs = new float[0];

        float[] slotOutputs(int size) {
            if (slotOutputs.length >= size) return slotOutputs;
            float[] fresh = new float[size];
            if (admit(slotOutputs.length, size)) slotOutputs = fresh;
            return fresh;
        }

        /** One kept float buffer per active-expert slot. */
        final class FloatSlots {
            private float[][] slots = new float[0][];

            /** Slot a's buffer if it holds {@code size} floats, else a new one (kept if the budget allows). */
            float[] get(int a, int size) {
                if (slots.length <= a) slots = java.util.Arrays.copyOf(slots, a + 1);
                float[] old = slots[a];
                if (old != null && old.length >= size) return old;
                float[] fresh = new float[size];
                if (admit(old == null ? 0 : old.length, size)) slots[a] = fresh;
                return fresh;
            }
        }

        /** One kept batch per active-expert slot, whose packing arrays the next batch in that slot may reuse. */
        final class BatchSlots {
            private TransposedBatch[] slots = new TransposedBatch[0];

            TransposedBatch get(int a) {
                return a < slots.length ? slots[a] : null;
            }

            /** Keeps the batches whose packings were made afresh and are larger, within the budget. */
            void keep(TransposedBatch[] now) {
                if (slots.length < now.length) slots = java.util.Arrays.copyOf(slots, now.length);
                for (int a = 0; a < now.length; a++) {
                    long size = now[a].packedSize(), before = slots[a] == null ? 0 : slots[a].packedSize();
                    if (size > before && admit(before, size)) slots[a] = now[a];
                }
            }
        }

        /** Whether replacing {@code freed} kept elements by {@code added} stays within the budget (then counted). */
        private boolean admit(long freed, long added) {
            long after = kept - freed + added;
            if (after > BUDGET) return false;
            kept = after;
            return true;
        }
    }

    /**
     * routed[t·hidden, +hidden) = Σ over token t's slots of weights[slot] × the output of expert ids[slot] on token t
     * (slot / k = t), and, when {@code expertOut} is not null, expertOut[slot·hidden, +hidden) = that unweighted output
     * for every slot; {@code order[start[e]..start[e+1])} lists expert e's slots in token order.
     */
    static void run(ExpertWeights experts, float[] xn, int n, int k, int hidden, int[] start, int[] order,
                    float[] weights, float[] routed, float[] expertOut, Parallel.NextCall after) {
        Kernels kernels = Kernels.get();
        int numExperts = experts.count();
        int[] active = new int[numExperts];
        int activeCount = 0;
        for (int e = 0; e < numExperts; e++) if (start[e + 1] > start[e]) active[activeCount++] = e;
        if (activeCount == 0) {
            java.util.Arrays.fill(routed, 0, n * hidden, 0f);
            return;
        }
        int count = activeCount;
        long time = PhaseTimes.start();
        int inter = experts.expert(active[0]).intermediate();

        int[] stride = new int[count];
        Buffers buffers = BUFFERS.get();
        float[][] xT = new float[count][];
        float[][] act = new float[count][];
        for (int a = 0; a < count; a++) {
            int c = start[active[a] + 1] - start[active[a]];
            stride[a] = kernels.batchStride(c);
            int actSize = inter * stride[a], inSize = hidden * stride[a];
            act[a] = buffers.activations.get(a, actSize);
            xT[a] = n == 1 ? xn : buffers.inputs.get(a, inSize);  // one token: stride 1, the row itself
        }
        // Kernels that repack inputs (AMX tiles) get each expert's batch packed once, for all its row blocks; the
        // activations are packed row block by row block as the gate/up units make them.
        DType dtype = experts.expert(active[0]).gate().dtype();
        TransposedBatch[] in = new TransposedBatch[count];
        TransposedBatch[] actBatch = new TransposedBatch[count];
        // A single token is every active expert's input: prepared (laid out for the kernels) once, and shared.
        TransposedBatch single = n == 1 ? kernels.prepare(xn, 1, 1, hidden, dtype, buffers.inputBatches.get(0)) : null;
        for (int a = 0; a < count; a++) {
            int c = start[active[a] + 1] - start[active[a]];
            in[a] = single != null ? single : kernels.batch(xT[a], c, stride[a], hidden, dtype, buffers.inputBatches.get(a));
            actBatch[a] = kernels.batch(act[a], c, stride[a], inter, dtype, buffers.activationBatches.get(a));
        }
        // Many active experts (a prefill): a unit is a whole expert and gathers (and packs) its own tokens first, so
        // they are still in L2 when its gate/up products read them. A separate region first wrote every expert's
        // inputs out (16 MB per layer for a 256-token prompt) and the products read them back.
        boolean wholeExperts = n > 1 && count >= WHOLE_EXPERTS_PER_THREAD * Parallel.threads();
        if (n > 1 && !wholeExperts) {
            Parallel.forRange(count, 4L * hidden * n * k / count, (from, to) -> {
                for (int a = from; a < to; a++) gather(xn, k, hidden, start, order, active[a], in[a], kernels);
            });
        }
        buffers.inputBatches.keep(single != null ? new TransposedBatch[]{single} : in);
        buffers.activationBatches.keep(actBatch);

        time = PhaseTimes.end(PhaseTimes.Phase.EXPERT_GATHER, time);
        int blocks = wholeExperts ? 1 : Math.max(1, (Parallel.threads() * UNITS_PER_THREAD + count - 1) / count);
        int rowsA = rowBlock(inter, blocks);
        int blocksA = (inter + rowsA - 1) / rowsA;
        long bytesPerExpert = experts.expertBytes();
        // Work per unit in weight bytes × tokens. A single token's experts (decode) are a short burst, often from
        // cache: counting a quarter of their bytes keeps small experts (the 29M test model's 200 KB) on the
        // caller, while a 1.9B model's 3 MB experts still spread over all threads.
        long tokensPerExpert = Math.max(1, (long) n * k / count);
        long perExpert = n == 1 ? Math.max(1, bytesPerExpert / 4) : bytesPerExpert * tokensPerExpert;

        boolean perExpertDown = tokensPerExpert < FUSED_MIN_TOKENS;
        if (n == 1 && perExpertDown) Parallel.readAheadFor(downCall(experts, count, active, perExpert));
        Parallel.forRange(count * blocksA, Math.max(1, perExpert * 2 / 3 / blocksA), (from, to) -> {
            float[] g = new float[0], u = new float[0];
            for (int unit = from; unit < to; unit++) {
                int a = unit / blocksA, r0 = (unit % blocksA) * rowsA, r1 = Math.min(inter, r0 + rowsA);
                int e = active[a], c = start[e + 1] - start[e], s = stride[a], len = (r1 - r0) * s;
                if (g.length < len) {
                    g = new float[len];
                    u = new float[len];
                }
                SwiGlu expert = experts.expert(e);
                if (wholeExperts) gather(xn, k, hidden, start, order, e, in[a], kernels);
                kernels.matMulT(expert.gate(), r0, r1, in[a], g, 0);
                kernels.matMulT(expert.up(), r0, r1, in[a], u, 0);
                kernels.siluMul(g, 0, u, 0, act[a], r0 * s, len);
                kernels.pack(actBatch[a], r0, r1);
            }
        });
        time = PhaseTimes.end(PhaseTimes.Phase.EXPERT_GATE_UP, time);
        if (perExpertDown) {
            if (n == 1) Parallel.readAheadFor(after);
            downPerExpert(experts, n, k, hidden, count, active, actBatch, start, order, weights, routed, expertOut,
                    perExpert);
        } else {
            downFused(experts, n, k, hidden, count, active, actBatch, start, order, weights, routed, expertOut,
                    perExpert);
        }
        PhaseTimes.end(PhaseTimes.Phase.EXPERT_DOWN, time);
    }

    /** Expert e's tokens (rows of xn) into its transposed batch, then packed for kernels that repack. */
    private static void gather(float[] xn, int k, int hidden, int[] start, int[] order, int e, TransposedBatch batch,
                               Kernels kernels) {
        int c = start[e + 1] - start[e];
        int[] rowStarts = new int[c];
        for (int j = 0; j < c; j++) rowStarts[j] = (order[start[e] + j] / k) * hidden;
        Batches.gather(xn, rowStarts, 0, hidden, batch.xT(), batch.stride());
        kernels.pack(batch, 0, hidden);
    }

    /**
     * Few tokens per expert (decode, short prompts): units of (expert, block of hidden rows) write the experts'
     * unweighted outputs per slot, then each token's slots are added, weighted, in ascending expert id. Blocks of one
     * matrix's consecutive rows keep long runs of memory per unit, which a memory-bound step needs; a unit spanning
     * all experts (as in {@link #downFused}) would read one short run per expert.
     */
    private static void downPerExpert(ExpertWeights experts, int n, int k, int hidden, int count, int[] active,
                                      TransposedBatch[] act, int[] start, int[] order, float[] weights,
                                      float[] routed, float[] expertOut, long perExpert) {
        Kernels kernels = Kernels.get();
        // Every row of every slot is written below, so a kept buffer needs no clearing.
        float[] outs = expertOut != null ? expertOut : BUFFERS.get().slotOutputs(n * k * hidden);
        int rowsB = downRows(hidden, count);
        int blocksB = (hidden + rowsB - 1) / rowsB;
        Parallel.forRange(count * blocksB, Math.max(1, perExpert / 3 / blocksB), (from, to) -> {
            float[] y = new float[0];
            for (int unit = from; unit < to; unit++) {
                int a = unit / blocksB, o0 = (unit % blocksB) * rowsB, o1 = Math.min(hidden, o0 + rowsB);
                int e = active[a], c = start[e + 1] - start[e], s = act[a].stride();
                Weights down = experts.expert(e).down();
                if (s == 1) {   // one token: straight into its slot's row
                    kernels.matMulT(down, o0, o1, act[a].xT(), 1, 1, outs, order[start[e]] * hidden + o0);
                    continue;
                }
                if (y.length < (o1 - o0) * s) y = new float[(o1 - o0) * s];
                kernels.matMulT(down, o0, o1, act[a], y, 0);
                for (int j = 0; j < c; j++) {
                    int dst = order[start[e] + j] * hidden;
                    for (int o = o0; o < o1; o++) outs[dst + o] = y[(o - o0) * s + j];
                }
            }
        });
        addSlots(n, k, hidden, count, active, start, order, weights, outs, routed);
    }

    /**
     * routed[t] = Σ over token t's slots of weights[slot] × outs[slot·hidden, +hidden), the slots added in ascending
     * expert id (the order of downFused, and of a pruned checkpoint renumbered in that order): every thread walks the
     * experts in order and takes the slots of its own tokens.
     */
    static void addSlots(int n, int k, int hidden, int count, int[] active, int[] start, int[] order, float[] weights,
                         float[] outs, float[] routed) {
        Kernels kernels = Kernels.get();
        Parallel.forRange(n, 4L * k * hidden, (from, to) -> {
            java.util.Arrays.fill(routed, from * hidden, to * hidden, 0f);
            for (int a = 0; a < count; a++) {
                int e = active[a];
                for (int j = start[e]; j < start[e + 1]; j++) {
                    int slot = order[j], t = slot / k;
                    if (t >= from && t < to) kernels.axpy(weights[slot], outs, slot * hidden, routed, t * hidden, hidden);
                }
            }
        });
    }

    /**
     * A batch: the down projections and the weighted sum in one region. A unit owns a block of hidden rows of every
     * token's routed output and runs all active experts' rows of that block, so no two units write the same place
     * and no per-slot outputs need to exist (unless an observer wants them). Every token's experts are added in
     * ascending expert id, the order a pruned checkpoint (renumbered in that order) adds them in.
     */
    private static void downFused(ExpertWeights experts, int n, int k, int hidden, int count, int[] active,
                                  TransposedBatch[] act, int[] start, int[] order, float[] weights,
                                  float[] routed, float[] expertOut, long perExpert) {
        Kernels kernels = Kernels.get();
        int downBlocks = Math.max(1, Math.min((hidden + ROW_ALIGN - 1) / ROW_ALIGN,
                Parallel.threads() * DOWN_UNITS_PER_THREAD));
        int rowsD = rowBlock(hidden, downBlocks);
        int unitsD = (hidden + rowsD - 1) / rowsD;
        Parallel.forRange(unitsD, Math.max(1, perExpert * count / 3 / unitsD), (from, to) -> {
            float[] y = new float[0];
            for (int unit = from; unit < to; unit++) {
                int o0 = unit * rowsD, o1 = Math.min(hidden, o0 + rowsD), rows = o1 - o0;
                for (int t = 0; t < n; t++) java.util.Arrays.fill(routed, t * hidden + o0, t * hidden + o1, 0f);
                for (int a = 0; a < count; a++) {
                    int e = active[a], c = start[e + 1] - start[e], s = act[a].stride();
                    if (y.length < rows * s) y = new float[rows * s];
                    kernels.matMulT(experts.expert(e).down(), o0, o1, act[a], y, 0);
                    for (int j = 0; j < c; j++) {
                        int slot = order[start[e] + j], dst = (slot / k) * hidden + o0;
                        float weight = weights[slot];
                        for (int o = 0; o < rows; o++) routed[dst + o] += weight * y[o * s + j];
                        if (expertOut != null) {
                            int eo = slot * hidden + o0;
                            for (int o = 0; o < rows; o++) expertOut[eo + o] = y[o * s + j];
                        }
                    }
                }
            }
        });
    }

    /** Rows per unit of {@link #downPerExpert}: each of the count experts' down projections in about 8 units a thread. */
    private static int downRows(int hidden, int count) {
        return rowBlock(hidden, Math.max(1, (Parallel.threads() * UNITS_PER_THREAD + count - 1) / count));
    }

    /** {@link #downPerExpert}'s call as a coming one, for threads that run out of gate/up units to read ahead. */
    private static Parallel.NextCall downCall(ExpertWeights experts, int count, int[] active, long perExpert) {
        int hidden = experts.expert(active[0]).down().rows();
        int rowsB = downRows(hidden, count), blocksB = (hidden + rowsB - 1) / rowsB;
        return new Parallel.NextCall(count * blocksB, Math.max(1, perExpert / 3 / blocksB), unit -> {
            int o0 = (unit % blocksB) * rowsB;
            return experts.expert(active[unit / blocksB]).down().readRows(o0, Math.min(hidden, o0 + rowsB));
        });
    }

    /** Rows per block when {@code rows} are cut into about {@code blocks} blocks, rounded up to whole tiles. */
    private static int rowBlock(int rows, int blocks) {
        int r = (rows + blocks - 1) / blocks;
        r = (r + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
        return Math.max(1, Math.min(rows, r));
    }
}
