package io.moeprune.gpu.runtime;

import io.moeprune.gpu.DeviceBuffer;
import io.moeprune.gpu.ops.DeviceOps;

import java.util.List;

/**
 * One sequence's keys and values on the device, per layer [positions, width] F32: GQA's kv heads, or MLA's expanded
 * per-head keys [k_nope | rope key] and values (the form the device computes; the CPU caches the latent instead).
 * {@link #at} gives a layer step the attention that appends the step's new rows and attends them against the cache.
 */
final class DeviceKvCache implements AutoCloseable {
    /** Elements per position of a layer's keys and values. */
    record Widths(int keys, int values) {
        static Widths of(LayerPlan.Attention a) {
            return switch (a) {
                case LayerPlan.Gqa g -> new Widths(g.parts().kvHeads() * g.parts().headDim(),
                        g.parts().kvHeads() * g.parts().valueDim());
                case LayerPlan.Mla m -> new Widths(m.parts().heads() * m.qkDim(),
                        m.parts().heads() * m.parts().valueDim());
            };
        }
    }

    /** Device bytes of the cache of {@code positions} positions. */
    static long bytes(List<LayerPlan> layers, int positions) {
        long b = 0;
        for (LayerPlan l : layers) {
            Widths w = Widths.of(l.attention());
            b += 4L * positions * w.keys() + MemoryPlan.ROUNDING + 4L * positions * w.values() + MemoryPlan.ROUNDING;
        }
        return b;
    }

    private final DeviceOps ops;
    private final int positions;
    private final Widths[] widths;
    private final DeviceBuffer[] keys, values;

    DeviceKvCache(DeviceOps ops, List<LayerPlan> layers, int positions) {
        this.ops = ops;
        this.positions = positions;
        int n = layers.size();
        this.widths = new Widths[n];
        this.keys = new DeviceBuffer[n];
        this.values = new DeviceBuffer[n];
        try {
            for (int l = 0; l < n; l++) {
                widths[l] = Widths.of(layers.get(l).attention());
                keys[l] = ops.alloc(4L * positions * widths[l].keys(), "layer " + l + "'s key cache of " + positions + " positions");
                values[l] = ops.alloc(4L * positions * widths[l].values(), "layer " + l + "'s value cache of " + positions + " positions");
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * The attention of layer {@code l} for {@code n} new rows at positions {@code past}…: their keys and values are
     * copied into the cache, then the queries attend to every cached position up to their own.
     */
    AttentionStep.Attend at(int l, int past, int n) {
        if (past + n > positions) throw new IllegalStateException((past + n) + " positions in a cache of " + positions);
        Widths w = widths[l];
        return (qkv, qAt, qStride, kAt, kStride, vAt, vStride, out, outBf16, heads, kvHeads, qkDim, vDim, scale,
                window, sinks) -> {
            ops.copy2d(qkv, kAt, kStride, 0, keys[l], 4L * past * w.keys(), w.keys(), 0, n, w.keys(), 1);
            ops.copy2d(qkv, vAt, vStride, 0, values[l], 4L * past * w.values(), w.values(), 0, n, w.values(), 1);
            ops.cachedAttention(qkv, qAt, qStride, keys[l], values[l], out, past, n, heads, kvHeads, qkDim, vDim,
                    scale, window, sinks);
            return false;   // F32 rows: a decode step's few rows are not worth a BF16 variant of the cached kernel
        };
    }

    /** The device addresses of layer {@code l}'s key and value caches (a batched step's table). */
    long keysAddress(int l) {
        return keys[l].address();
    }

    long valuesAddress(int l) {
        return values[l].address();
    }

    @Override
    public void close() {
        for (int l = 0; l < keys.length; l++) {
            if (keys[l] != null) ops.free(keys[l]);
            if (values[l] != null) ops.free(values[l]);
        }
    }
}
