package io.moeprune.runtime;

import io.moeprune.io.ProcessIo;

import java.util.function.Consumer;
import java.util.function.IntConsumer;

/** Hears a {@link LayerMajorPass} advance: each sequence through each layer, and each finished layer. */
public interface LayerMajorListener {
    LayerMajorListener NONE = new LayerMajorListener() {
    };

    /** Sequence {@code sequence} has passed decoder layer {@code layer}. */
    default void sequenceDone(int sequence, int layer) {
    }

    /** Every sequence has passed one more layer. */
    default void layerDone(LayerProgress progress) {
    }

    /**
     * Credits each sequence's {@code units} (its tokens, or its share of an item) to {@code progress} a layer at a
     * time, in whole units, so a progress bar counted in those units moves during a pass instead of at its end; and
     * passes each finished layer's progress to {@code layers}.
     */
    static LayerMajorListener crediting(double[] units, int layers, IntConsumer progress, Consumer<LayerProgress> onLayer) {
        return new LayerMajorListener() {
            private double credited;
            private long reported;

            @Override
            public void sequenceDone(int sequence, int layer) {
                credited += units[sequence] / layers;
                // The rounding keeps the last layer's sum exact despite the divisions' errors.
                long whole = (long) Math.floor(credited + 1e-6);
                if (whole > reported) {
                    progress.accept((int) (whole - reported));
                    reported = whole;
                }
            }

            @Override
            public void layerDone(LayerProgress p) {
                onLayer.accept(p);
            }
        };
    }

    /** Counts finished layer passes and the bytes read since the pass began. */
    final class Meter {
        private final int total;
        private final long startBytes = ProcessIo.readBytes();
        private final long startNanos = System.nanoTime();
        private int done;

        public Meter(int total) {
            this.total = total;
        }

        public LayerProgress layerDone() {
            long now = ProcessIo.readBytes();
            return new LayerProgress(++done, total, startBytes < 0 || now < 0 ? -1 : now - startBytes,
                    System.nanoTime() - startNanos);
        }
    }
}
