package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.DeviceOps;

import java.util.ArrayList;
import java.util.List;

/**
 * The timing marks of a timed {@link GpuLayerMajorPass}, per layer: staging (host clock), upload (copy stream),
 * dequantisation and compute (compute stream), or for a resident layer ({@link #resident}) none of the copy's: 0 bytes,
 * 0 s, its compute its wall; read into {@link LayerTimes} once the run has synchronised. Off, every method does
 * nothing (an untimed run records no timing events).
 */
final class PassClock {
    private final DeviceOps ops;
    private final boolean on;
    private final long start;
    private final long[] stageNanos, uploadFrom, uploadTo, dequantFrom, dequantTo, done, bytes;
    private final boolean[] resident;

    PassClock(DeviceOps ops, int layers, boolean on) {
        this.ops = ops;
        this.on = on;
        this.start = on ? ops.timingMark(false) : 0;
        int n = on ? layers : 0;
        stageNanos = new long[n];
        uploadFrom = new long[n];
        uploadTo = new long[n];
        dequantFrom = new long[n];
        dequantTo = new long[n];
        done = new long[n];
        bytes = new long[n];
        resident = new boolean[n];
    }

    /** Layer {@code layer}'s weights were on the device already: nothing staged, copied or dequantised. */
    void resident(int layer) {
        if (on) resident[layer] = true;
    }

    /** Called on the staging thread; read after the staging's future was joined (which orders the write). */
    void staged(int layer, long nanos) {
        if (on) stageNanos[layer] = nanos;
    }

    void uploadQueued(int layer, boolean after, long byteCount) {
        if (!on) return;
        (after ? uploadTo : uploadFrom)[layer] = ops.timingMark(true);
        bytes[layer] = byteCount;
    }

    void dequantQueued(int layer, boolean after) {
        if (on) (after ? dequantTo : dequantFrom)[layer] = ops.timingMark(false);
    }

    void layerQueued(int layer) {
        if (on) done[layer] = ops.timingMark(false);
    }

    /** Each layer's times (empty when off); waits for the marks to pass. */
    List<LayerTimes> times(List<LayerPlan> layers) {
        List<LayerTimes> times = new ArrayList<>();
        if (!on) return times;
        for (int l = 0; l < layers.size(); l++) {
            double wall = ops.elapsedSeconds(l == 0 ? start : done[l - 1], done[l]);
            if (resident[l]) {
                times.add(new LayerTimes(layers.get(l).index(), wall, 0, 0, 0, wall, 0));
                continue;
            }
            times.add(new LayerTimes(layers.get(l).index(), ops.elapsedSeconds(l == 0 ? start : done[l - 1], done[l]),
                    stageNanos[l] / 1e9, ops.elapsedSeconds(uploadFrom[l], uploadTo[l]),
                    ops.elapsedSeconds(dequantFrom[l], dequantTo[l]), ops.elapsedSeconds(dequantTo[l], done[l]),
                    bytes[l]));
        }
        return times;
    }
}
