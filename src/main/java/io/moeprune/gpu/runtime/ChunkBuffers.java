package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.RoutingSpec;
import io.moeprune.model.ModelSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * The device activations of one chunk of at most {@code tokens} tokens, allocated once per run and reused by every
 * layer and chunk. F32 unless named BF16 (the inputs of matrix products).
 */
final class ChunkBuffers implements AutoCloseable {
    /**
     * The widths (elements per token; [gate | up] in bytes) the buffers are sized by, and the type of the routed
     * experts' product rows ({@link ExpertOutputs}: their [gate | up] and down outputs).
     */
    record Widths(int hidden, int qkv, int qkvBf16, int attention, int experts, int topK, long gateUpBytes,
                  int activation, ExpertOutputs expertOutputs) {
        /** The widths, the experts' outputs as {@code -Dmoeprune.expertOutputs} asks. */
        static Widths of(ModelSpec spec, List<LayerPlan> layers) {
            return of(spec, layers, ExpertOutputs.fromProperties());
        }

        /**
         * The widths, with the experts' outputs in {@code requested}'s type, except F32 where an expert adds a bias to
         * its products' rows (gpt-oss: the biases are added to F32 rows).
         */
        static Widths of(ModelSpec spec, List<LayerPlan> layers, ExpertOutputs requested) {
            int qkv = 0, qkvBf16 = 0, attention = 0, activation = 0;
            long gateUp = 0;
            boolean biases = layers.stream().anyMatch(l -> l.feedForward() instanceof LayerPlan.Moe m
                    && m.expertBiases());
            ExpertOutputs expertOutputs = biases ? ExpertOutputs.F32 : requested;
            for (LayerPlan l : layers) {
                qkv = Math.max(qkv, l.attention().scratchFloats());
                qkvBf16 = Math.max(qkvBf16, l.attention().scratchBf16());
                attention = Math.max(attention, l.attention().outputWidth());
                gateUp = Math.max(gateUp, l.feedForward().gateUpBytes(expertOutputs));
                activation = Math.max(activation, l.feedForward().activationWidth());
            }
            return new Widths(spec.hiddenSize(), qkv, qkvBf16, attention, Math.max(1, spec.moe().numExperts()),
                    Math.max(1, spec.moe().topK()), gateUp, activation, expertOutputs);
        }

        /** Device bytes per token of a chunk, its x rows excluded. */
        long bytesPerToken() {
            long h = hidden, k = topK;
            return 4 * h + 2 * h + 4L * qkv + 2L * qkvBf16 + 6L * attention + 4 * h + 4 + 4 + 4L * experts + 12 * k
                    + 2 * k * h + gateUpBytes + 2L * activation + expertOutputs.bytes() * k * h + 4 * k + 4 + 4 * h + 4
                    + routingBytesPerToken();
        }

        /**
         * The device routing's share: the chosen ids, and the grouping scratch's tiles (their count rounded up: the
         * tile left over is in {@link #BUFFERS}' reserve).
         */
        private long routingBytesPerToken() {
            return 4L * topK + (4L * experts * topK + DeviceOps.GROUPING_TILE - 1) / DeviceOps.GROUPING_TILE;
        }
    }

    /**
     * Bytes of a chunk's buffers that do not grow with its tokens, at most: the mask's kept flags [E], expertStart
     * [E+1] and the grouping scratch's last tile [E] of the largest router the device routes.
     */
    private static final long FIXED_ROUTING_BYTES = 4L * (3 * RoutingSpec.MAX_EXPERTS + 1);

    /**
     * Buffers a chunk allocates (for the plan's rounding reserve), with as many more as cover the routing's buffers of
     * a fixed size.
     */
    static final int BUFFERS = 26 + (int) ((FIXED_ROUTING_BYTES + MemoryPlan.ROUNDING - 1) / MemoryPlan.ROUNDING);

    private final DeviceOps ops;
    private final List<DeviceBuffer> owned = new ArrayList<>();
    final int tokens;
    /** x [T, H]: the chunk's residual rows when the residual streams wait on the host; null when resident. */
    final DeviceBuffer x;
    /** qkv: the attention's intermediate rows (GQA: [q | k | v] per token); qkvBf16: its BF16 product inputs (MLA). */
    final DeviceBuffer xn, xnBf16, qkv, qkvBf16, attention, attentionBf16, branch, positions, starts;
    /**
     * gateUp: [T, 2·I] F32 of a dense or shared MLP, or the routed experts' [T·k, 2·I] of {@link #expertOutputs}' type;
     * expertRows [T·k, H]: the experts' down products in grouped order, of {@link #expertOutputs}' type.
     */
    final DeviceBuffer routerLogits, gatherIndex, slotRow, slotWeight, gathered, gateUp, activationBf16, expertRows;
    final ExpertOutputs expertOutputs;
    final DeviceBuffer slotNorms, turns, sharedOut, sharedGate;
    /**
     * The device routing's: the chosen expert of each slot [T·k], the mask's kept flags [E], expertStart [E+1] and the
     * grouping's scratch.
     */
    final DeviceBuffer routeIds, keptFlags, expertStart, groupingScratch;

    ChunkBuffers(DeviceOps ops, Widths w, int tokens, boolean residentResiduals) {
        this.ops = ops;
        this.tokens = tokens;
        this.expertOutputs = w.expertOutputs();
        long t = tokens, h = w.hidden(), k = w.topK();
        try {
            x = residentResiduals ? null : alloc(4 * t * h, "the chunk's residual rows");
            xn = alloc(4 * t * h, "normalised rows");
            xnBf16 = alloc(2 * t * h, "normalised rows (BF16)");
            qkv = alloc(4 * t * w.qkv(), "q, k and v");
            qkvBf16 = alloc(2 * t * w.qkvBf16(), "attention product inputs (BF16)");
            attention = alloc(4 * t * w.attention(), "attention outputs");
            attentionBf16 = alloc(2 * t * w.attention(), "attention outputs (BF16)");
            branch = alloc(4 * t * h, "branch outputs");
            positions = alloc(4 * t, "positions");
            starts = alloc(4 * (t + 1), "sequence starts");
            routerLogits = alloc(4 * t * w.experts(), "router logits");
            gatherIndex = alloc(4 * t * k, "expert gather rows");
            slotRow = alloc(4 * t * k, "slot rows");
            slotWeight = alloc(4 * t * k, "slot weights");
            gathered = alloc(2 * t * k * h, "expert inputs (BF16)");
            gateUp = alloc(t * w.gateUpBytes(), "gate and up rows");
            activationBf16 = alloc(2 * t * w.activation(), "activations (BF16)");
            expertRows = alloc(w.expertOutputs().bytes() * t * k * h, "expert outputs");
            slotNorms = alloc(4 * t * k, "expert output norms");
            turns = alloc(4 * t, "turns");
            sharedOut = alloc(4 * t * h, "shared expert outputs");
            sharedGate = alloc(4 * t, "shared expert gates");
            routeIds = alloc(4 * t * k, "chosen experts");
            keptFlags = alloc(4L * w.experts(), "kept expert flags");
            expertStart = alloc(4L * (w.experts() + 1), "expert starts");
            groupingScratch = alloc(DeviceOps.groupingScratchBytes(t * k, w.experts()), "expert grouping scratch");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * The download stream's fence after the observers' copies of these buffers (router logits, routing ids and
     * weights, slot norms, turns: {@link ObserverDownloads}) that the compute stream has not waited for yet, when
     * {@link #downloadsPending}.
     */
    private long downloadsFence;
    private boolean downloadsPending;

    /** The observers' copies of these buffers, queued on the download stream, are behind {@code fence}. */
    void downloadsQueued(long fence) {
        downloadsFence = fence;
        downloadsPending = true;
    }

    /**
     * Before the first operation that overwrites a buffer the observers' copies read: the compute stream waits for
     * their fence (once; nothing when none is pending). The router's product is that operation: of the copied buffers
     * it writes the router logits, and the routing (ids, weights) and the epilogue (norms, turns) come after it in
     * stream order; nothing between two MoE blocks writes any of them (the attention, the dense MLP and the next
     * chunk's inputs have their own buffers).
     */
    void beforeRouterOverwrites(DeviceOps ops) {
        if (!downloadsPending) return;
        ops.computeWaits(downloadsFence);
        downloadsPending = false;
    }

    private DeviceBuffer alloc(long bytes, String what) {
        DeviceBuffer b = ops.alloc(Math.max(bytes, 4), what + " of a chunk of " + tokens + " tokens");
        owned.add(b);
        return b;
    }

    @Override
    public void close() {
        for (DeviceBuffer b : owned) ops.free(b);
        owned.clear();
    }
}
