package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.model.GroupStrategy;
import io.moeprune.runtime.ExpertMask;

/**
 * A chunk's routing for its MoE block, left on the device (issue 22): the router's choices and weights
 * ({@link DeviceOps#route}, the CPU's given the same logits) and the (token, slot) pairs grouped by expert
 * ({@link DeviceOps#groupByExpert}) into the chunk's routeIds, slotWeight, gatherIndex and slotRow. Only expertStart
 * comes back to the host, as the grouped products take their row counts there; a decode step with
 * {@code -Dmoeprune.decodeRouting=device} leaves it on the device too ({@link #onDevice}). A router the kernels do not
 * take (more than {@link io.moeprune.gpu.ops.RoutingSpec#MAX_EXPERTS} experts) is routed on the host by
 * {@link HostRouting}, whose tables are uploaded.
 */
final class ChunkRouting {
    /**
     * A chunk's routing as the host sees it.
     *
     * @param expertStart expert e's pairs are [expertStart[e], expertStart[e+1]) of the grouped order [E+1]
     * @param onHost      the whole routing when it was done on the host, else null
     */
    record Routed(int[] expertStart, HostRouting onHost) {
        /**
         * A routing whose counts stayed on the device ({@link #onDevice}): expertStart is in the chunk's buffer only,
         * for the products that read it there ({@link DeviceOps#groupedLinearRouted}); nothing on the host reads it.
         */
        static final Routed COUNTS_ON_DEVICE = new Routed(null, null);

        /** Tokens routed to expert e. */
        int count(int e) {
            return expertStart[e + 1] - expertStart[e];
        }
    }

    private ChunkRouting() {
    }

    /** Routes the chunk's {@code tokens} rows of router logits (in {@code b.routerLogits}) of MoE layer {@code layer}. */
    static Routed route(DeviceOps ops, HostTransfers io, LayerPlan.Moe m, int layer, DeviceBuffer slot, ChunkBuffers b,
                        int tokens, ExpertMask mask) {
        int e = m.numExperts(), k = m.topK(), slots = tokens * k;
        boolean[] kept = mask.kept(layer);
        if (!m.routing().runsOnDevice()) {
            float[] logits = io.download(b.routerLogits, 0, tokens * e);
            HostRouting r = HostRouting.route(m.block().router(), logits, tokens, e, k, kept, mask.strategy());
            io.upload(r.gatherRow(), slots, b.gatherIndex);
            io.upload(r.slotRow(), slots, b.slotRow);
            io.upload(r.weights(), slots, b.slotWeight, 0);
            return new Routed(r.expertStart(), r);
        }
        DeviceBuffer keptFlags = null;
        if (kept != null) {
            int[] flags = new int[e];
            for (int i = 0; i < e; i++) flags[i] = kept[i] ? 1 : 0;
            io.upload(flags, e, b.keptFlags);
            keptFlags = b.keptFlags;
        }
        onDevice(ops, m, slot, b, tokens, mask.strategy(), keptFlags);
        return new Routed(io.downloadInts(b.expertStart, e + 1), null);
    }

    /**
     * The routing on the device, its counts left there ({@code -Dmoeprune.decodeRouting=device}): the chosen experts
     * and weights, and the grouping into the chunk's expertStart, gatherIndex and slotRow, nothing read back;
     * {@code keptFlags} (int32 [E], or null for every expert) already on the device. Needs
     * {@link io.moeprune.gpu.ops.RoutingSpec#runsOnDevice}.
     */
    static Routed onDevice(DeviceOps ops, LayerPlan.Moe m, DeviceBuffer slot, ChunkBuffers b, int tokens,
                           GroupStrategy strategy, DeviceBuffer keptFlags) {
        ops.route(m.routing(), strategy, b.routerLogits, tokens,
                m.selectionBias() == null ? null : m.selectionBias().in(slot), keptFlags, b.routeIds, b.slotWeight);
        ops.groupByExpert(b.routeIds, tokens * m.topK(), m.topK(), m.numExperts(), b.groupingScratch, b.expertStart,
                b.gatherIndex, b.slotRow);
        return Routed.COUNTS_ON_DEVICE;
    }
}
