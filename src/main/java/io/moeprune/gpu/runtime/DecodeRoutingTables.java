package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.runtime.ExpertMask;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * What a decoder's MoE blocks read on the device when their experts' row counts stay there
 * ({@code -Dmoeprune.decodeRouting=device}, {@link DeviceOps#groupedLinearRouted}): per layer, the experts' [gate | up]
 * and down weight addresses (int64 [E] each) and the mask's kept flags (int32 [E], or none when the layer keeps every
 * expert). A decoder's layers are resident ({@link ResidentWeights}: fixed addresses) and its mask fixed, so all of it
 * is uploaded once, when the decoder opens, in one copy: no step uploads or downloads anything for its experts. A
 * layer whose routing the kernels do not take ({@link io.moeprune.gpu.ops.RoutingSpec#runsOnDevice}) or whose experts
 * add biases (gpt-oss) has no entry and keeps the host's counts. A streamed slot would need its addresses uploaded in
 * stream order with each layer; the decoder never streams (generation keeps the whole model resident).
 */
final class DecodeRoutingTables implements AutoCloseable {
    /** One layer's tables: the [gate | up] and down addresses, and the kept flags (null: every expert kept). */
    record Layer(DeviceBuffer gateUp, DeviceBuffer down, DeviceBuffer kept) {
    }

    private final DeviceOps ops;
    private final DeviceBuffer buffer;
    /** By the decoder's layer order; null where a layer keeps the host's counts. */
    private final Layer[] layers;

    /** Device bytes of the tables of {@code layers} (at most: every layer MoE, masked), for a decoder's plan. */
    static long bytes(List<LayerPlan> layers, int experts) {
        return (8L + 8 + 4) * experts * layers.size();
    }

    /** Whether MoE block {@code m} can run with its counts on the device. */
    static boolean takes(LayerPlan.Moe m) {
        return m.routing().runsOnDevice() && !m.expertBiases();
    }

    /** The tables of {@code layers}' MoE blocks over the weights in {@code weights}' slots, uploaded now. */
    DecodeRoutingTables(DeviceOps ops, List<LayerPlan> layers, ResidentWeights weights, ExpertMask mask) {
        this.ops = ops;
        this.layers = new Layer[layers.size()];
        long bytes = 0;
        for (LayerPlan layer : layers) {
            if (layer.feedForward() instanceof LayerPlan.Moe m && takes(m)) bytes += (8L + 8 + 4) * m.numExperts();
        }
        this.buffer = bytes == 0 ? null : ops.alloc(bytes, "the experts' address tables and kept flags");
        if (buffer == null) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(bytes, 8);
            long at = 0;
            for (int l = 0; l < layers.size(); l++) {
                if (!(layers.get(l).feedForward() instanceof LayerPlan.Moe m) || !takes(m)) continue;
                int e = m.numExperts();
                DeviceBuffer slot = weights.slot(l);
                DeviceBuffer gateUp = slice(at, 8L * e), down = slice(at + 8L * e, 8L * e);
                for (int i = 0; i < e; i++) {
                    host.set(ValueLayout.JAVA_LONG, at + 8L * i, m.experts()[i].gateUp().address(slot));
                    host.set(ValueLayout.JAVA_LONG, at + 8L * (e + i), m.experts()[i].down().address(slot));
                }
                at += 16L * e;
                DeviceBuffer kept = null;
                boolean[] flags = mask.kept(layers.get(l).index());
                if (flags != null) {
                    kept = slice(at, 4L * e);
                    for (int i = 0; i < e; i++) host.set(ValueLayout.JAVA_INT, at + 4L * i, flags[i] ? 1 : 0);
                }
                at += 4L * e;
                this.layers[l] = new Layer(gateUp, down, kept);
            }
            // From pageable memory: staged before upload returns, in stream order before every step.
            ops.upload(host, buffer, 0);
        }
    }

    private DeviceBuffer slice(long offset, long bytes) {
        return new DeviceBuffer(buffer.address() + offset, bytes);
    }

    /** Layer {@code l}'s tables (the decoder's order), or null where it keeps the host's counts. */
    Layer layer(int l) {
        return layers[l];
    }

    /** Layers whose blocks run with the device's counts. */
    int layerCount() {
        int n = 0;
        for (Layer l : layers) if (l != null) n++;
        return n;
    }

    @Override
    public void close() {
        if (buffer != null) ops.free(buffer);
    }
}
