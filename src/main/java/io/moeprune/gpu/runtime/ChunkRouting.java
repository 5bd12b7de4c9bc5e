package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.ExpertMask;

/**
 * A chunk's routing for its MoE block, left on the device (issue 22): the router's choices and weights
 * ({@link DeviceOps#route}, the CPU's given the same logits) and the (token, slot) pairs grouped by expert
 * ({@link DeviceOps#groupByExpert}) into the chunk's routeIds, slotWeight, gatherIndex and slotRow. Only expertStart
 * comes back to the host, as the grouped products take their row counts there. A router the kernels do not take
 * (more than {@link io.moeprune.gpu.ops.RoutingSpec#MAX_EXPERTS} experts) is routed on the host by
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
        ops.route(m.routing(), mask.strategy(), b.routerLogits, tokens,
                m.selectionBias() == null ? null : m.selectionBias().in(slot), keptFlags, b.routeIds, b.slotWeight);
        ops.groupByExpert(b.routeIds, slots, k, e, b.groupingScratch, b.expertStart, b.gatherIndex, b.slotRow);
        return new Routed(io.downloadInts(b.expertStart, e + 1), null);
    }
}
