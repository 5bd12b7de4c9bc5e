package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.ExpertMask;

/**
 * x += m·ffn(norm(x)) for a chunk on the device, then x's finite check. A dense SwiGLU is two products around the
 * gated activation. A MoE block: the router in F32 and the routing on the device ({@link ChunkRouting}: only the
 * experts' row counts come back to the host, and not even those in a decode step with
 * {@code -Dmoeprune.decodeRouting=device}), the chosen tokens gathered in expert order, one grouped product for
 * every expert's [gate | up] and one for its down (gpt-oss: their biases added, its clamped activation), then the
 * epilogue: the slots combined per token, the shared expert (sigmoid-gated for Qwen2-MoE) added, the residual add and
 * the finite check, each a pass over the chunk's rows, or all of them one kernel ({@link DeviceOps#moeEpilogue},
 * {@code -Dmoeprune.fusedEpilogue}).
 */
final class FeedForwardStep {
    /**
     * A watched chunk's slot norms computed by the combine's own read of the experts' rows
     * ({@link DeviceOps#combineSlotsWithNorms}) instead of a second read. On by default: the same bits as unfused on
     * HostOps, and 3-5 % more calibration tokens/s on the random 1.9 B model on an H100 (2026-12-07, BENCHMARKS.md);
     * {@code -Dmoeprune.fusedSlotNorms=false} is the A/B. Read once; {@link GpuLayerMajorPass#fusedSlotNorms} sets it
     * per pass (tests compare both on one device).
     */
    static final boolean FUSED_SLOT_NORMS = !"false".equals(System.getProperty("moeprune.fusedSlotNorms"));

    /**
     * A MoE block's epilogue as one kernel ({@link DeviceOps#moeEpilogue}: the combine, a watched chunk's slot norms
     * and turns, the shared expert's rows, the residual add and the finite check in one read of the slot rows and x,
     * the combined rows not written). On by default since 2026-12-07: CudaOpsTest holds its kernels to HostOps on an
     * H100 (x and the flag exact), HostOps gives the same bits as off, and with it and the attention's epilogue an
     * H100 calibrated the 1.9 B model at 1.44× transformers (1.19× before; BENCHMARKS.md, 2026-12-07);
     * {@code -Dmoeprune.fusedEpilogue=false} is the A/B. Read once; {@link GpuLayerMajorPass#fusedEpilogue} sets it
     * per pass and {@link GpuGeneration#fusedEpilogue} per generation (tests compare both on one device).
     */
    static final boolean FUSED_EPILOGUE = !"false".equals(System.getProperty("moeprune.fusedEpilogue"));

    /**
     * A chunk whose MoE block is watched: its copies for the observers go to {@code downloads}, the residual entering
     * the block [n, H] only when {@code residual} (an observer of the chunk reads it), for {@code sequences} traces;
     * the slot norms by the combine's read when {@code fusedNorms}.
     */
    record Watch(ObserverDownloads downloads, boolean residual, int sequences, boolean fusedNorms) {
    }

    /**
     * x's finite check after the block: flag {@code slot} of {@code flags}, raised by the fused epilogue's kernel when
     * {@code fusedEpilogue} and the block is MoE, else by {@link DeviceOps#nonFinite} after the residual add.
     */
    record Finish(FiniteFlags flags, int slot, boolean fusedEpilogue) {
    }

    private FeedForwardStep() {
    }

    /** Runs the block; returns the queued copies an observer sees when {@code watch} (a MoE block), else null. */
    static ObserverDownloads.Chunk run(DeviceOps ops, HostTransfers io, LayerPlan layer, DeviceBuffer slot,
                                       ChunkBuffers b, DeviceBuffer x, int tokens, ExpertMask mask, Watch watch,
                                       Finish finish, boolean fused) {
        return run(ops, io, layer, slot, b, x, tokens, mask, watch, finish, fused, GpuPhases.OFF);
    }

    /** {@link #run}, its steps marked on {@code phases}. */
    static ObserverDownloads.Chunk run(DeviceOps ops, HostTransfers io, LayerPlan layer, DeviceBuffer slot,
                                       ChunkBuffers b, DeviceBuffer x, int tokens, ExpertMask mask, Watch watch,
                                       Finish finish, boolean fused, GpuPhases phases) {
        return run(ops, io, layer, slot, b, x, tokens, mask, watch, finish, fused, phases, null);
    }

    /**
     * {@link #run} of a decode step: with {@code counts} (a MoE block's {@link DecodeRoutingTables.Layer}, null for
     * the host's counts) the routing's counts stay on the device and the experts' products read them there
     * ({@code -Dmoeprune.decodeRouting=device}: no transfer in the block); at most {@code tokens} rows an expert.
     */
    static ObserverDownloads.Chunk run(DeviceOps ops, HostTransfers io, LayerPlan layer, DeviceBuffer slot,
                                       ChunkBuffers b, DeviceBuffer x, int tokens, ExpertMask mask, Watch watch,
                                       Finish finish, boolean fused, GpuPhases phases,
                                       DecodeRoutingTables.Layer counts) {
        LayerPlan.Norm post = layer.postNorm();
        int hidden = post.width();
        AttentionStep.normRows(ops, post, slot, x, b, tokens, true, fused);   // the router reads the F32 rows
        ObserverDownloads.Chunk watched = null;
        switch (layer.feedForward()) {
            case LayerPlan.Dense d -> {
                mlp(ops, d.mlp(), slot, b, tokens, hidden, b.branch);
                phases.stream(GpuPhases.Phase.DENSE_MLP);
            }
            case LayerPlan.Moe m -> {
                ChunkRouting.Routed r = experts(ops, io, m, layer.index(), slot, b, tokens, hidden, mask, phases,
                        counts);
                if (finish.fusedEpilogue()) {
                    return fusedEpilogue(ops, layer, m, r, slot, b, x, tokens, hidden, watch, finish, phases);
                }
                watched = epilogue(ops, m, layer.index(), r, slot, b, x, tokens, hidden, watch, phases);
            }
        }
        ops.addScaled(x, 0, b.branch, 0, (long) tokens * hidden, layer.residualMultiplier());
        phases.stream(GpuPhases.Phase.COMBINE);
        finish.flags().check(x, tokens, hidden, finish.slot());
        phases.stream(GpuPhases.Phase.FINITE_CHECK);
        return watched;
    }

    /** out [n, H] = down(act(gate·x) ⊙ up·x) of the chunk's normalised rows (BF16). */
    private static void mlp(DeviceOps ops, LayerPlan.Mlp mlp, DeviceBuffer slot, ChunkBuffers b, int tokens,
                            int hidden, DeviceBuffer out) {
        int inter = mlp.intermediate();
        ops.linear(tokens, 2 * inter, hidden, slot, mlp.gateUp().offset(), b.xnBf16, 0, b.gateUp, 0, 2 * inter, false);
        ops.gatedActivation(b.gateUp, b.activationBf16, tokens, inter, 1f, 0f, 0f);
        ops.linear(tokens, hidden, inter, slot, mlp.down().offset(), b.activationBf16, 0, out, 0, hidden, false);
    }

    /** gpt-oss: each expert's bias added to its rows of {@code y} (grouped order, rows of {@code width}). */
    private static void expertBiases(DeviceOps ops, LayerPlan.Moe m, ChunkRouting.Routed r, DeviceBuffer slot,
                                     DeviceBuffer y, int width, boolean gateUp) {
        for (int e = 0; e < m.numExperts(); e++) {
            LayerPlan.Mlp mlp = m.experts()[e];
            SlotLayout.Region bias = gateUp ? mlp.gateUpBias() : mlp.downBias();
            if (bias == null || r.count(e) == 0) continue;
            ops.addBias(y, 4L * r.expertStart()[e] * width, r.count(e), width, width, bias.in(slot));
        }
    }

    /**
     * The router, the routing and the experts' products: the down rows in {@code b.expertRows}, grouped order. With
     * {@code counts} the routing's counts stay on the device ({@link ChunkRouting#onDevice}, the mask's flags from the
     * tables) and the products read them there; the gather and the activation take every slot (tokens × k) either way.
     */
    private static ChunkRouting.Routed experts(DeviceOps ops, HostTransfers io, LayerPlan.Moe m, int layer,
                                               DeviceBuffer slot, ChunkBuffers b, int tokens, int hidden,
                                               ExpertMask mask, GpuPhases phases, DecodeRoutingTables.Layer counts) {
        int e = m.numExperts(), slots = tokens * m.topK();
        // The previous watched block's copies on the download stream (ObserverDownloads) read the router logits, the
        // routing's ids and weights, norms and turns: the first write of any of them waits for their fence.
        b.beforeRouterOverwrites(ops);
        ops.linearF32(tokens, e, hidden, m.router().in(slot), b.xn, b.routerLogits);
        if (m.routerBias() != null) ops.addBias(b.routerLogits, 0, tokens, e, e, m.routerBias().in(slot));
        ChunkRouting.Routed r = counts == null ? ChunkRouting.route(ops, io, m, layer, slot, b, tokens, mask)
                : ChunkRouting.onDevice(ops, m, slot, b, tokens, mask.strategy(), counts.kept());
        phases.stream(GpuPhases.Phase.ROUTING);

        // From the BF16 rows the post-attention norm wrote beside the F32 ones: the same bits, half the bytes read.
        ops.gatherRowsBf16(b.xnBf16, b.gatherIndex, b.gathered, slots, hidden);
        int inter = m.experts()[0].intermediate();
        // BF16 rows (-Dmoeprune.expertOutputs=bf16) halve the block's largest traffic: [gate | up] here, the down
        // rows below; never with expert biases (ChunkBuffers.Widths keeps those F32).
        products(ops, m, r, counts, slot, b, true, tokens, 2 * inter, hidden, b.gathered, b.gateUp);
        expertBiases(ops, m, r, slot, b.gateUp, 2 * inter, true);
        LayerPlan.Activation act = m.activation();
        ops.gatedActivation(b.gateUp, b.activationBf16, slots, inter, act.alpha(), act.limit(), act.upShift(),
                b.expertOutputs);
        products(ops, m, r, counts, slot, b, false, tokens, hidden, inter, b.activationBf16, b.expertRows);
        expertBiases(ops, m, r, slot, b.expertRows, hidden, false);
        phases.stream(GpuPhases.Phase.EXPERTS);
        return r;
    }

    /**
     * One of the experts' grouped products, [gate | up] ({@code gateUp}) or down: y [slots, out] = x [slots, in]·Wᵀ
     * in the grouped order, each expert its rows. The host's counts give one {@link DeviceOps#groupedLinear} of the
     * experts' addresses; counts on the device ({@code counts} not null) one {@link DeviceOps#groupedLinearRouted}
     * of the tables' addresses, at most {@code tokens} rows an expert.
     */
    private static void products(DeviceOps ops, LayerPlan.Moe m, ChunkRouting.Routed r,
                                 DecodeRoutingTables.Layer counts, DeviceBuffer slot, ChunkBuffers b, boolean gateUp,
                                 int tokens, int out, int in, DeviceBuffer x, DeviceBuffer y) {
        int e = m.numExperts();
        if (counts != null) {
            ops.groupedLinearRouted(b.expertStart, gateUp ? counts.gateUp() : counts.down(), e, x, y, out, in, tokens,
                    b.expertOutputs);
            return;
        }
        int[] rows = new int[e];
        long[] w = new long[e], xs = new long[e], ys = new long[e];
        for (int i = 0; i < e; i++) {
            LayerPlan.Mlp expert = m.experts()[i];
            rows[i] = r.count(i);
            w[i] = (gateUp ? expert.gateUp() : expert.down()).address(slot);
            xs[i] = x.address() + 2L * r.expertStart()[i] * in;
            ys[i] = y.address() + (long) b.expertOutputs.bytes() * r.expertStart()[i] * out;
        }
        ops.groupedLinear(rows, out, in, w, xs, ys, b.expertOutputs);
    }

    /**
     * The epilogue pass by pass, up to the residual add: the slots combined into {@code b.branch}, a watched chunk's
     * norms, turns and queued copies, the shared expert added.
     */
    private static ObserverDownloads.Chunk epilogue(DeviceOps ops, LayerPlan.Moe m, int layer, ChunkRouting.Routed r,
                                                    DeviceBuffer slot, ChunkBuffers b, DeviceBuffer x, int tokens,
                                                    int hidden, Watch watch, GpuPhases phases) {
        int k = m.topK();
        // Before the shared expert is added: s and ‖e‖ are of the routed experts only, as on the CPU.
        boolean fusedNorms = watch != null && watch.fusedNorms();
        if (fusedNorms) {
            ops.combineSlotsWithNorms(b.expertRows, b.slotRow, b.slotWeight, b.branch, tokens, k, hidden, b.slotNorms,
                    b.expertOutputs);
        } else {
            ops.combineSlots(b.expertRows, b.slotRow, b.slotWeight, b.branch, tokens, k, hidden, b.expertOutputs);
        }
        phases.stream(GpuPhases.Phase.COMBINE);

        ObserverDownloads.Chunk watched = null;
        if (watch != null) {
            if (!fusedNorms) ops.slotNorms(b.expertRows, b.slotRow, b.slotNorms, tokens * k, hidden, b.expertOutputs);
            ops.turns(x, b.branch, b.turns, tokens, hidden);
            // Queued without a wait (ObserverDownloads: on the download stream, behind a compute fence taken now;
            // the next router waits for their fence before it overwrites the buffers); the workers wait for their
            // fence. The residual (n·H floats) only for an observer that reads it, on the compute stream before the
            // residual add below: the calibration observer uses the turns.
            watched = watch.downloads().queue(b, x, r, m, layer, tokens, hidden, watch.residual(), watch.sequences());
            phases.stream(GpuPhases.Phase.OBSERVERS);
        }
        if (m.shared() != null) {
            sharedExpert(ops, m, slot, b, tokens, hidden);
            ops.addScaled(b.branch, 0, b.sharedOut, 0, (long) tokens * hidden, 1f);
            phases.stream(GpuPhases.Phase.SHARED_EXPERT);
        }
        return watched;
    }

    /**
     * The epilogue as one kernel ({@link DeviceOps#moeEpilogue}): the shared expert first (it reads only the
     * normalised rows, and the products' scratch is free once the experts' downs are written), the residual entering
     * the block queued for a watching observer before the kernel adds into x, then the kernel (x updated and its
     * finite flag raised; norms and turns of the routed experts when watched), then the observers' other copies.
     * {@code b.branch} is not written: nothing reads the combined rows after the block.
     */
    private static ObserverDownloads.Chunk fusedEpilogue(DeviceOps ops, LayerPlan layer, LayerPlan.Moe m,
                                                         ChunkRouting.Routed r, DeviceBuffer slot, ChunkBuffers b,
                                                         DeviceBuffer x, int tokens, int hidden, Watch watch,
                                                         Finish finish, GpuPhases phases) {
        if (m.shared() != null) {
            sharedExpert(ops, m, slot, b, tokens, hidden);
            phases.stream(GpuPhases.Phase.SHARED_EXPERT);
        }
        ObserverDownloads.Started started = watch == null ? null
                : watch.downloads().start(x, r, m, tokens, hidden, watch.residual());
        ops.moeEpilogue(b.expertRows, b.slotRow, b.slotWeight, tokens, m.topK(), hidden, b.expertOutputs,
                m.shared() == null ? null : b.sharedOut, x, layer.residualMultiplier(),
                watch == null ? null : b.slotNorms, watch == null ? null : b.turns,
                finish.flags().raisedBy(tokens, hidden, finish.slot()), finish.slot(), b.branch);
        phases.stream(GpuPhases.Phase.COMBINE);
        if (watch == null) return null;
        ObserverDownloads.Chunk watched = watch.downloads().queue(started, b, layer.index(), watch.sequences());
        phases.stream(GpuPhases.Phase.OBSERVERS);
        return watched;
    }

    /** The shared expert's rows into {@code b.sharedOut} (Qwen2-MoE: times its sigmoid gate). */
    private static void sharedExpert(DeviceOps ops, LayerPlan.Moe m, DeviceBuffer slot, ChunkBuffers b, int tokens,
                                     int hidden) {
        mlp(ops, m.shared(), slot, b, tokens, hidden, b.sharedOut);
        if (m.sharedGate() != null) {
            AttentionStep.project(ops, m.sharedGate(), slot, b.xnBf16, tokens, b.sharedGate, 0, 1);
            ops.sigmoidGateRows(b.sharedOut, tokens, hidden, b.sharedGate);
        }
    }
}
